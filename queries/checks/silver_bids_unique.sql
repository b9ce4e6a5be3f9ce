-- silver_bids_unique: bid ids that appear more than once in silver (must be none).
-- grain: one row per repeated bid_id. inputs: silver.bids. used by: the batch (after gold), tests.
-- Silver removes duplicates within a day; this catches a bid id reused across days.
-- Exact in two steps: copies of an id share its 64-bit hash, so only ids whose hash repeats (none, or
-- a handful) are grouped by their text; hashing first is ~30 % cheaper than grouping 10M strings.
with
bids as not materialized (select * from silver.bids),

repeated_hashes as (select hash(bid_id) as id_hash from bids group by 1 having count(*) > 1),

final as (
    select bid_id, count(*) as copies, min(date) as first_day, max(date) as last_day
    from bids
    semi join repeated_hashes on hash(bids.bid_id) = repeated_hashes.id_hash
    group by bid_id
    having count(*) > 1
)

select * from final order by bid_id
