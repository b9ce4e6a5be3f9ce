-- users_segments: bidders per behavioural segment, among bidders active in a period.
-- grain: one row per segment.
-- inputs: gold.bidder_analytics
-- used by: User Analytics dashboard
-- active in [$start, $end] = first bid before the period's end and last bid after its start.
select
    segment,
    count(*) as bidders,
    cast(sum(bids) as bigint) as bids,
    cast(sum(total_spend) as double) as spend_usd
from gold.bidder_analytics
where first_bid_time < $end::date + 1 and last_bid_time >= $start::date
group by segment
order by bidders desc
