-- silver_bids_orphans: silver bids whose auction or bidder is not in silver (must be none).
-- grain: one row per orphaned bid. inputs: silver.bids, silver.auctions, silver.users,
--   intermediate.auction_bids and intermediate.bidder_auctions (the ids bids refer to, each once: the
--   bids themselves are read again only when an id is missing).
-- used by: the batch (after gold), tests. A bid day re-run before its auction's correction lands
-- can leave these behind; re-running that day quarantines them.
with
-- (not materialized: DuckDB would otherwise copy every bid for the two readers below, which only
-- scan bids when an id is missing)
bids as not materialized (select * from silver.bids),
auctions as (select * from silver.auctions),
users as (select * from silver.users),
bid_auctions as (select auction_id from intermediate.auction_bids),
bidders as (select distinct bidder_id from intermediate.bidder_auctions),

missing_auctions as (select auction_id from bid_auctions anti join auctions using (auction_id)),
missing_bidders as (select bidder_id from bidders anti join users on bidders.bidder_id = users.user_id),

final as (
    select bids.bid_id, bids.date, bids.auction_id, bids.bidder_id
    from bids
    semi join missing_auctions on bids.auction_id is not distinct from missing_auctions.auction_id
    union all
    select bids.bid_id, bids.date, bids.auction_id, bids.bidder_id
    from bids
    semi join missing_bidders on bids.bidder_id is not distinct from missing_bidders.bidder_id
)

select * from final order by bid_id
