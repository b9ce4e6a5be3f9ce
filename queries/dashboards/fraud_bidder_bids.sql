-- fraud_bidder_bids: one alerted bidder's bids with each bid's fraud score and reasons, and the auction.
-- grain: one row per valid bid of $bidder.
-- inputs: gold.alerted_bids
-- used by: Fraud dashboard (drill-down from a bidder)
select
    bid_time, auction_id, title, category, seller_id, auction_start, auction_end, cast(amount as double) as amount,
    currency, channel,
    device_id, fraud_score, array_to_string(fraud_reasons, ', ') as fraud_reasons
from gold.alerted_bids
where bidder_id = $bidder
order by bid_time, bid_id
