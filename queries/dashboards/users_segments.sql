-- users_segments: bidders per behavioural segment, among bidders active in a period.
-- grain: one row per segment.
-- inputs: gold.bidder_groups
-- used by: User Analytics dashboard
-- active in [$start, $end] = first bid on or before the period's last day, last bid on or after its first.
select segment, cast(sum(bidders) as bigint) as bidders, cast(sum(bids) as bigint) as bids,
    cast(sum(spend) as double) as spend_usd
from gold.bidder_groups
where first_day <= $end and last_day >= $start
group by segment
order by bidders desc, segment
