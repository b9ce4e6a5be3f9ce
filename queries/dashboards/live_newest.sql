-- live_newest: the time of the newest bid the stream worker has written (the monitor's "now").
-- grain: one row.
-- inputs: live.bids (the stream's scored bids; its raw bids when nothing was scored)
-- used by: Real-Time Monitor dashboard
-- (a plain max: DuckDB answers it from the Parquet files' statistics instead of reading every bid.)
select max(bid_time) as newest from live.bids
