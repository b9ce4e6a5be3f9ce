-- exec_daily: GMV, fees, transactions and bids per day of closing, for a period and an optional category.
-- grain: one row per UTC day with a closing auction in [$start, $end].
-- inputs: gold.auction_results
-- used by: Executive Summary dashboard (GMV and fees per day)
select
    date,
    count(*) filter (where status = 'closed') as auctions_closed,
    count(*) filter (where sold) as transactions,
    cast(coalesce(sum(final_price_usd), 0) as double) as gmv_usd,
    cast(coalesce(sum(fee_usd), 0) as double) as fees_usd,
    cast(sum(bids) as bigint) as bids
from gold.auction_results
where date between $start and $end and ($category is null or category = $category)
group by date
order by date
