-- fraud_bidder_bids: one bidder's bids with each bid's fraud score and reasons, and the auction it went to.
-- grain: one row per valid bid of $bidder.
-- inputs: silver.bids, silver.auctions
-- used by: Fraud dashboard (drill-down from a bidder)
select
    bids.bid_time, bids.auction_id, auctions.title, auctions.category, auctions.seller_id,
    cast(bids.amount as double) as amount, bids.currency, bids.channel, bids.device_id,
    bids.fraud_score, array_to_string(bids.fraud_reasons, ', ') as fraud_reasons
from silver.bids as bids
left join silver.auctions as auctions using (auction_id)
where bids.bidder_id = $bidder
order by bids.bid_time, bids.bid_id
