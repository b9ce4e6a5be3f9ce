-- runs_last_batch: the newest run of a batch job (refresh, daily or a manual batch).
-- grain: at most one row.
-- inputs: ops.job_runs
-- used by: Real-Time Monitor dashboard (pipeline health)
select job, trigger, status, start_time, end_time, error
from ops.job_runs
where job in ('refresh', 'daily', 'batch')
order by end_time desc nulls last
limit 1
