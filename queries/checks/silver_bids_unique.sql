-- silver_bids_unique: bid ids that appear more than once in silver (must be none).
-- grain: one row per repeated bid_id. inputs: silver.bids. used by: the batch (after gold), tests.
-- Silver removes duplicates within a day; this catches a bid id reused across days.
with
bids as (select * from silver.bids),

final as (
    select bid_id, count(*) as copies, min(date) as first_day, max(date) as last_day
    from bids
    group by bid_id
    having count(*) > 1
)

select * from final order by bid_id
