-- users_new_returning: per day, bidders bidding for the first time and those who had bid before.
-- grain: one row per UTC day in [$start, $end] with a bid.
-- inputs: gold.daily_revenue (active bidders per day), gold.bidder_groups (first bid day)
-- used by: User Analytics dashboard
with
newcomers as (
    select first_day as date, cast(sum(bidders) as bigint) as new_bidders
    from gold.bidder_groups
    group by first_day
)
select
    daily.date,
    coalesce(newcomers.new_bidders, 0) as new_bidders,
    daily.active_bidders - coalesce(newcomers.new_bidders, 0) as returning_bidders
from gold.daily_revenue as daily
left join newcomers using (date)
where daily.date between $start and $end and daily.bids > 0
order by daily.date
