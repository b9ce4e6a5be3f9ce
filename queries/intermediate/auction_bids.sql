-- auction_bids: how many valid bids each auction drew and when the first one came.
-- grain: one row per auction_id with at least one valid bid.
-- inputs: intermediate.bidder_auctions
-- used by: category_performance, checks/silver_bids_orphans.
with
bidder_auctions as (select * from intermediate.bidder_auctions),

final as (
    select auction_id, cast(sum(bids) as bigint) as bids, min(first_bid_time) as first_bid_time
    from bidder_auctions
    group by auction_id
)

select * from final
