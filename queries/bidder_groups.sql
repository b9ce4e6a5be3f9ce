-- bidder_groups: bidders counted by when they were active, segment, win rate and country.
-- grain: one row per (first_day, last_day, segment, win_rate_pct, country) with at least one bidder.
-- inputs: gold.bidder_analytics, silver.users
-- used by: User Analytics dashboard (segments, win-rate distribution, new bidders, countries for a date range
--   without a pass over every bidder: a bidder is active in [a, b] when first_day <= b and last_day >= a).
-- win_rate_pct = the win rate's 10 % bucket (0, 10, ... 90; 100 % counts as 90); country '??' when the bidder
--   is not in silver.users.
with
bidders as (select * from gold.bidder_analytics),
users as (select user_id, country from silver.users),

per_bidder as (
    select
        utc_day(bidders.first_bid_time) as first_day,
        utc_day(bidders.last_bid_time) as last_day,
        bidders.segment,
        cast(least(floor(bidders.win_rate * 10), 9) * 10 as integer) as win_rate_pct,
        coalesce(users.country, '??') as country,
        bidders.bids,
        bidders.total_spend
    from bidders
    left join users on users.user_id = bidders.bidder_id
),

final as (
    select
        first_day,
        last_day,
        segment,
        win_rate_pct,
        country,
        count(*) as bidders,
        cast(sum(bids) as bigint) as bids,
        cast(sum(total_spend) as decimal(18, 2)) as spend
    from per_bidder
    group by all
)

select * from final order by first_day, last_day, segment, win_rate_pct, country
