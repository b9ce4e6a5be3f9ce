-- sold_auctions_resolved: auctions whose result contradicts the definition of sold (must be none).
-- grain: one row per bad auction. inputs: silver.auctions. used by: the batch (after gold), tests.
-- sold <=> closed, with a winner, paying at or above the reserve (or the start price).
with
auctions as (select * from silver.auctions),

final as (
    select auction_id, status, sold, final_price, winner_id, reserve_price, start_price
    from auctions
    where
        (sold and (status <> 'closed' or winner_id is null or final_price < coalesce(reserve_price, start_price)))
        or (not sold and (final_price is not null or winner_id is not null))
)

select * from final order by auction_id
