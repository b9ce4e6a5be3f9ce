-- fraud_bidders: bidders with fraud alerts in a period, ranked by their highest alert score.
-- grain: one row per alerted bidder (the top $limit).
-- inputs: silver.fraud_alerts, silver.users
-- used by: Fraud dashboard
with
alerts as (
    select * from silver.fraud_alerts where alert_time >= $start::date and alert_time < $end::date + 1
),
ranked as (
    select
        bidder_id,
        max(score) as top_score,
        count(*) as alerts,
        count(distinct auction_id) as auctions,
        array_to_string(list_sort(list_distinct(flatten(list(reasons)))), ', ') as reasons,
        max(alert_time) as last_alert
    from alerts
    group by bidder_id
    order by top_score desc, alerts desc, bidder_id
    limit $limit
)
select ranked.*, users.name, users.country
from ranked
left join silver.users as users on users.user_id = ranked.bidder_id
order by ranked.top_score desc, ranked.alerts desc, ranked.bidder_id
