-- fraud_daily: fraud scoring outcomes per day.
-- grain: one row per UTC day with a scored bid or an alert (bids by bid_time, alerts by alert_time).
-- inputs: silver.bids (fraud_score), silver.fraud_alerts; parameter $flag_threshold
-- used by: Real-Time Monitor and Executive Summary dashboards
-- flagged_bids = scored bids with fraud_score >= $flag_threshold; flagged_bidders = distinct bidders
-- with a flagged bid that day.
with
bids as (select * from silver.bids),
alerts as (select * from silver.fraud_alerts),

scores as (
    select
        utc_day(bid_time) as date,
        count(*) as scored_bids,
        count(*) filter (where fraud_score >= $flag_threshold) as flagged_bids,
        count(distinct bidder_id) filter (where fraud_score >= $flag_threshold) as flagged_bidders
    from bids
    where fraud_score is not null
    group by 1
),

alerts_per_day as (
    select utc_day(alert_time) as date, count(*) as alerts
    from alerts
    group by 1
),

final as (
    select
        date,
        coalesce(scores.scored_bids, 0) as scored_bids,
        coalesce(scores.flagged_bids, 0) as flagged_bids,
        coalesce(alerts_per_day.alerts, 0) as alerts,
        coalesce(scores.flagged_bidders, 0) as flagged_bidders
    from scores
    full join alerts_per_day using (date)
)

select * from final order by date
