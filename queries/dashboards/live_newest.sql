-- live_newest: the time of the newest bid the stream worker has written (the monitor's "now").
-- grain: one row.
-- inputs: live.bids (the stream's scored bids; its raw bids when nothing was scored)
-- used by: Real-Time Monitor dashboard
-- $day = the newest date= partition of its files (known from their names): only that day's files are read.
select max(bid_time) as newest from live.bids where date >= $day
