-- gold_revenue_reconciles: gold GMV and sales that do not add up to silver's (must be none).
-- grain: at most one row. inputs: gold.daily_revenue, gold.seller_stats, silver.auctions.
-- used by: the batch (after gold), tests.
with
daily as (select sum(gmv) as gmv, sum(auctions_sold) as sold from gold.daily_revenue),
sellers as (select sum(gmv) as gmv, sum(auctions_sold) as sold from gold.seller_stats),
auctions as (select count(*) filter (where sold) as sold from silver.auctions),

final as (
    select daily.gmv as daily_gmv, sellers.gmv as seller_gmv, daily.sold as daily_sold, auctions.sold as silver_sold
    from daily, sellers, auctions
    -- per-row rounding to cents may differ by at most a cent per sold auction
    where abs(daily.gmv - sellers.gmv) > 0.01 * greatest(auctions.sold, 1) or daily.sold <> auctions.sold
)

select * from final
