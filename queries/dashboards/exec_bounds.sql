-- exec_bounds: the days and categories the auction dashboards can filter on.
-- grain: one row.
-- inputs: gold.auction_results
-- used by: Executive Summary and Auction Performance dashboards (filter defaults)
select min(date) as first_day, max(date) as last_day, list(distinct category order by category) as categories
from gold.auction_results
