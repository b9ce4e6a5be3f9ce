-- fraud_bounds: the days with fraud alerts.
-- grain: one row.
-- inputs: silver.fraud_alerts
-- used by: Fraud dashboard (filter defaults)
select cast(min(alert_time) as date) as first_day, cast(max(alert_time) as date) as last_day, count(*) as alerts
from silver.fraud_alerts
