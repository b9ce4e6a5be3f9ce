-- hourly_activity: marketplace activity per hour.
-- grain: one row per UTC hour (start of the hour) with a bid or an auction opening.
-- inputs: silver.bids, silver.auctions
-- used by: Executive Summary and Real-Time Monitor dashboards
with
bids as (select * from silver.bids),
auctions as (select * from silver.auctions),

bidding as (
    select utc_hour(bid_time) as hour, count(*) as bids, count(distinct bidder_id) as bidders
    from bids
    group by 1
),

openings as (
    select utc_hour(start_time) as hour, count(*) as auctions_opened
    from auctions
    group by 1
),

final as (
    select
        hour,
        coalesce(bidding.bids, 0) as bids,
        coalesce(bidding.bidders, 0) as bidders,
        coalesce(openings.auctions_opened, 0) as auctions_opened
    from bidding
    full join openings using (hour)
)

select * from final order by hour
