-- users_bounds: the days on which bidders were active.
-- grain: one row.
-- inputs: gold.daily_revenue
-- used by: User Analytics dashboard (filter defaults)
select min(date) filter (where bids > 0) as first_day, max(date) filter (where bids > 0) as last_day
from gold.daily_revenue
