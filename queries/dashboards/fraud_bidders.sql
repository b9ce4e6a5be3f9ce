-- fraud_bidders: bidders with fraud alerts in a period, ranked by their highest alert score.
-- grain: one row per alerted bidder (the top $limit).
-- inputs: gold.alerted_bidders
-- used by: Fraud dashboard
-- Ranked on the numbers first; the reasons, name and country are gathered for the top $limit only.
with
period as (select * from gold.alerted_bidders where date between $start and $end),
ranked as (
    select
        bidder_id,
        max(top_score) as top_score,
        cast(sum(alerts) as bigint) as alerts,
        cast(sum(auctions) as bigint) as auctions,
        max(last_alert) as last_alert
    from period
    group by bidder_id
    order by top_score desc, alerts desc, bidder_id
    limit $limit
),
details as (
    select
        bidder_id,
        array_to_string(list_sort(list_distinct(flatten(list(reasons)))), ', ') as reasons,
        any_value(name) as name,
        any_value(country) as country
    from period
    where bidder_id in (select bidder_id from ranked)
    group by bidder_id
)
select ranked.*, details.reasons, details.name, details.country
from ranked
join details using (bidder_id)
order by ranked.top_score desc, ranked.alerts desc, ranked.bidder_id
