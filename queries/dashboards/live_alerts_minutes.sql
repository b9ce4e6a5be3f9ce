-- live_alerts_minutes: fraud alerts per minute since $since.
-- grain: one row per UTC minute with an alert.
-- inputs: bronze.fraud_alerts
-- used by: Real-Time Monitor dashboard
select time_bucket(interval 1 minute, alert_time) as minute, count(*) as alerts
from bronze.fraud_alerts
where date >= cast($since as date) and alert_time > $since
group by 1
order by 1
