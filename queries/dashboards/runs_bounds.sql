-- runs_bounds: the days with job runs.
-- grain: one row.
-- inputs: ops.job_runs
-- used by: Pipeline Runs dashboard (filter defaults)
select cast(min(start_time) as date) as first_day, cast(max(start_time) as date) as last_day, count(*) as runs
from ops.job_runs
