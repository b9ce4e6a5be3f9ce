-- alerted_bidders: each alerted bidder's alerts per day, with who they are.
-- grain: one row per (UTC day of the alert, bidder) with at least one alert.
-- inputs: silver.fraud_alerts, silver.users
-- used by: Fraud dashboard (bidders ranked by score for a date range)
-- reasons = the distinct rule names of that day's alerts, sorted; auctions = auctions alerted on (one alert
-- per bidder and auction, so summing days counts each auction once).
with
alerts as (select * from silver.fraud_alerts),
users as (select user_id, name, country from silver.users),

per_day as (
    select
        utc_day(alert_time) as date,
        bidder_id,
        max(score) as top_score,
        count(*) as alerts,
        count(distinct auction_id) as auctions,
        list_sort(list_distinct(flatten(list(reasons)))) as reasons,
        max(alert_time) as last_alert
    from alerts
    group by 1, 2
),

final as (
    select per_day.*, users.name, users.country
    from per_day
    left join users on users.user_id = per_day.bidder_id
)

select * from final order by date, bidder_id
