-- live_alerts_newest: the newest fraud alerts with their reasons.
-- grain: one row per alert (the newest $limit).
-- inputs: bronze.fraud_alerts
-- used by: Real-Time Monitor dashboard
select alert_time, bidder_id, auction_id, score, array_to_string(reasons, ', ') as reasons
from bronze.fraud_alerts
where date >= (select max(date) from bronze.fraud_alerts) - 1
order by alert_time desc, alert_id
limit $limit
