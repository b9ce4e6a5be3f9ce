-- exec_categories: categories ranked by GMV over a period.
-- grain: one row per category with an auction closing in [$start, $end].
-- inputs: gold.auction_results
-- used by: Executive Summary dashboard (top categories)
select
    category,
    cast(coalesce(sum(final_price_usd), 0) as double) as gmv_usd,
    count(*) filter (where sold) as transactions,
    count(*) filter (where status = 'closed') as auctions_closed
from gold.auction_results
where date between $start and $end and ($category is null or category = $category)
group by category
order by gmv_usd desc, category
