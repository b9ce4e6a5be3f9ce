-- fraud_bidders: bidders with fraud alerts in a period, ranked by their highest alert score.
-- grain: one row per alerted bidder (the top $limit).
-- inputs: gold.alerted_bidders
-- used by: Fraud dashboard
select
    bidder_id,
    max(top_score) as top_score,
    cast(sum(alerts) as bigint) as alerts,
    cast(sum(auctions) as bigint) as auctions,
    array_to_string(list_sort(list_distinct(flatten(list(reasons)))), ', ') as reasons,
    max(last_alert) as last_alert,
    any_value(name) as name,
    any_value(country) as country
from gold.alerted_bidders
where date between $start and $end
group by bidder_id
order by top_score desc, alerts desc, bidder_id
limit $limit
