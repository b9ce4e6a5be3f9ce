-- perf_bids_histogram: how many auctions drew how many bids (50 or more counted as 50).
-- grain: one row per number of bids.
-- inputs: gold.auction_results
-- used by: Auction Performance dashboard (bids per auction)
select least(bids, 50) as bids, count(*) as auctions
from gold.auction_results
where status = 'closed' and date between $start and $end and ($category is null or category = $category)
group by 1
order by 1
