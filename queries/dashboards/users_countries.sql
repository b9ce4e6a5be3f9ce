-- users_countries: bidders active in a period and what they spent, per country.
-- grain: one row per country (ISO 3166 alpha-2; '??' when the bidder is not in silver.users).
-- inputs: gold.bidder_groups
-- used by: User Analytics dashboard (geography)
select country, cast(sum(bidders) as bigint) as bidders, cast(sum(spend) as double) as spend_usd
from gold.bidder_groups
where first_day <= $end and last_day >= $start
group by country
order by bidders desc, country
