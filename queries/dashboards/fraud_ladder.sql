-- fraud_ladder: an auction's full bid ladder, oldest first, with every bid's score.
-- grain: one row per valid bid on $auction.
-- inputs: silver.bids, silver.users
-- used by: Fraud dashboard (drill-down from a bid to its auction)
select
    bids.bid_time, bids.bidder_id, users.name, cast(bids.amount as double) as amount, bids.currency,
    bids.channel, bids.fraud_score, array_to_string(bids.fraud_reasons, ', ') as fraud_reasons
from silver.bids as bids
left join silver.users as users on users.user_id = bids.bidder_id
where bids.auction_id = $auction
order by bids.bid_time, bids.bid_id
