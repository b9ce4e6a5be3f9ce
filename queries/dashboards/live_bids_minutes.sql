-- live_bids_minutes: bids and flagged bids per minute since $since.
-- grain: one row per UTC minute with a bid.
-- inputs: live.bids (the stream's scored bids; its raw bids when nothing was scored)
-- used by: Real-Time Monitor dashboard
-- flagged = fraud_score >= $flag_threshold (gold's threshold).
select
    time_bucket(interval 1 minute, bid_time) as minute,
    count(*) as bids,
    count(*) filter (where fraud_score >= $flag_threshold) as flagged_bids
from live.bids
where date >= cast($since as date) and bid_time > $since
group by 1
order by 1
