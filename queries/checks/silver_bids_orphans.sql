-- silver_bids_orphans: silver bids whose auction or bidder is not in silver (must be none).
-- grain: one row per orphaned bid. inputs: silver.bids, silver.auctions, silver.users.
-- used by: the batch (after gold), tests. A bid day re-run before its auction's correction lands
-- can leave these behind; re-running that day quarantines them.
with
bids as (select * from silver.bids),
auctions as (select * from silver.auctions),
users as (select * from silver.users),

final as (
    select bids.bid_id, bids.date, bids.auction_id, bids.bidder_id
    from bids
    anti join auctions using (auction_id)
    union all
    select bids.bid_id, bids.date, bids.auction_id, bids.bidder_id
    from bids
    anti join users on bids.bidder_id = users.user_id
)

select * from final order by bid_id
