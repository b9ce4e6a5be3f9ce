-- runs_history: every job attempt that started in a period, newest first.
-- grain: one row per attempt (ops.job_runs row).
-- inputs: ops.job_runs
-- used by: Pipeline Runs dashboard
select
    job, trigger, status, attempt, start_time, end_time,
    epoch(end_time - start_time) as duration_s, rows_in, rows_out, error, run_id
from ops.job_runs
where start_time >= $start::date and start_time < $end::date + 1
order by start_time desc, run_id
