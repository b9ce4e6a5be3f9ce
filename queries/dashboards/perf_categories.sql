-- perf_categories: how auctions closing in a period fared, per category.
-- grain: one row per category with an auction closing in [$start, $end] (and = $category when given).
-- inputs: gold.auction_results
-- used by: Auction Performance dashboard
-- success_rate = sold / closed; price increase over sold auctions (median and mean: real data has opening
-- bids of a cent, which make the mean huge); sniping_share = bids in the last 5 % of the window / bids.
select
    category,
    count(*) filter (where status = 'closed') as auctions_closed,
    count(*) filter (where sold) as auctions_sold,
    count(*) filter (where sold) / nullif(count(*) filter (where status = 'closed'), 0) as success_rate,
    avg(bids) as avg_bids_per_auction,
    median(price_increase_pct) as median_price_increase_pct,
    avg(price_increase_pct) as mean_price_increase_pct,
    avg(hours_to_first_bid) as avg_hours_to_first_bid,
    sum(late_bids) / nullif(sum(bids), 0) as sniping_share
from gold.auction_results
where date between $start and $end and ($category is null or category = $category)
group by category
order by category
