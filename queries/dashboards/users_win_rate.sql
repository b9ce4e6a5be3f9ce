-- users_win_rate: distribution of win rates (auctions won / auctions bid on) of bidders active in a period.
-- grain: one row per 10 % bucket of win rate.
-- inputs: gold.bidder_analytics
-- used by: User Analytics dashboard
select
    cast(least(floor(win_rate * 10), 9) * 10 as integer) as win_rate_pct,
    count(*) as bidders
from gold.bidder_analytics
where first_bid_time < $end::date + 1 and last_bid_time >= $start::date
group by 1
order by 1
