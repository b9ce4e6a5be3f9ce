-- users_top_bidders: the bidders who spent most, among those active in a period.
-- grain: one row per bidder (the top $limit by spend).
-- inputs: gold.bidder_analytics, silver.users
-- used by: User Analytics dashboard
with
top as (
    select * from gold.bidder_analytics
    where first_bid_time < $end::date + 1 and last_bid_time >= $start::date
    order by total_spend desc, bids desc, bidder_id
    limit $limit
)
select
    top.bidder_id, users.name, users.country, top.segment, top.bids, top.auctions_won,
    top.win_rate, cast(top.total_spend as double) as total_spend_usd
from top
left join silver.users as users on users.user_id = top.bidder_id
order by top.total_spend desc, top.bids desc, top.bidder_id
