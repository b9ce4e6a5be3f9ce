-- bidder_auctions: each bidder's bidding on each auction, the one pass over every bid that gold shares.
-- grain: one row per (bidder_id, auction_id) with at least one valid bid.
-- inputs: silver.bids
-- used by: auction_bids, bidder_analytics, checks/silver_bids_orphans. The batch computes it once per
--   run (a table; grouping 10M string-keyed bids is the costly step); tests read it as a view.
with
bids as (select * from silver.bids),

final as (
    select bidder_id, auction_id, count(*) as bids, min(bid_time) as first_bid_time, max(bid_time) as last_bid_time
    from bids
    group by bidder_id, auction_id
)

select * from final
