-- fraud_ladder: an auction's full bid ladder, oldest first, with every bid's score.
-- grain: one row per valid bid on $auction.
-- Valid bids lie inside the auction's window [$opened, $closes]: with it as parameters DuckDB reads only the
-- silver days and row groups (silver bids are in bid-time order) of those hours.
-- inputs: silver.bids, silver.users
-- used by: Fraud dashboard (drill-down from a bid to its auction)
select
    bids.bid_time, bids.bidder_id, users.name, cast(bids.amount as double) as amount, bids.currency,
    bids.channel, bids.fraud_score, array_to_string(bids.fraud_reasons, ', ') as fraud_reasons
from silver.bids as bids
left join silver.users as users on users.user_id = bids.bidder_id
where bids.auction_id = $auction
    and bids.date between cast($opened as date) and cast($closes as date)
    and bids.bid_time between $opened and $closes
order by bids.bid_time, bids.bid_id
