-- live_active_auctions: auctions open at $at (opened before it, ending after it).
-- grain: one row.
-- inputs: bronze.auctions (the stream's live auction events)
-- used by: Real-Time Monitor dashboard
select count(distinct auction_id) as active_auctions
from bronze.auctions
where status = 'open' and start_time <= $at and end_time > $at
