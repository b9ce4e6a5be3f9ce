-- fraud_bounds: the days with fraud alerts.
-- grain: one row.
-- inputs: gold.alerted_bidders
-- used by: Fraud dashboard (filter defaults)
select min(date) as first_day, max(date) as last_day, cast(coalesce(sum(alerts), 0) as bigint) as alerts
from gold.alerted_bidders
