-- users_top_sellers: the sellers with the highest GMV.
-- grain: one row per seller (the top $limit by GMV).
-- inputs: gold.seller_stats, silver.users
-- used by: User Analytics dashboard
with
top as (select * from gold.seller_stats order by gmv desc, seller_id limit $limit)
select
    top.seller_id, users.name, users.country, top.auctions, top.auctions_sold,
    cast(top.gmv as double) as gmv_usd, cast(top.avg_final_price as double) as avg_final_price_usd,
    top.flagged_bid_share
from top
left join silver.users as users on users.user_id = top.seller_id
order by top.gmv desc, top.seller_id
