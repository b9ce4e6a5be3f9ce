-- users_win_rate: distribution of win rates (auctions won / bid on) of bidders active in a period.
-- grain: one row per 10 % bucket of win rate.
-- inputs: gold.bidder_groups
-- used by: User Analytics dashboard
select win_rate_pct, cast(sum(bidders) as bigint) as bidders
from gold.bidder_groups
where first_day <= $end and last_day >= $start
group by win_rate_pct
order by win_rate_pct
