-- alerted_bids: every valid bid of a bidder with at least one fraud alert, with its score and its auction.
-- grain: one row per bid of an alerted bidder.
-- inputs: silver.bids, silver.fraud_alerts, silver.auctions
-- used by: Fraud dashboard (a bidder's bids and auctions without a pass over every bid); sorted by bidder. The
--   auction's window lets the bid ladder read only the silver files and row groups of those hours.
with
bids as (select * from silver.bids),
alerted as (select distinct bidder_id from silver.fraud_alerts),
auctions as (select auction_id, title, category, seller_id, start_time, end_time from silver.auctions),

final as (
    select
        bids.bidder_id,
        bids.bid_time,
        bids.bid_id,
        bids.auction_id,
        auctions.title,
        auctions.category,
        auctions.seller_id,
        auctions.start_time as auction_start,
        auctions.end_time as auction_end,
        bids.amount,
        bids.currency,
        bids.channel,
        bids.device_id,
        bids.fraud_score,
        bids.fraud_reasons
    from bids
    left join auctions using (auction_id)
    where bids.bidder_id in (select bidder_id from alerted)
)

select * from final order by bidder_id, bid_time, bid_id
