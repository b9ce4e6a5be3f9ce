-- users_countries: bidders active in a period and what they spent, per country.
-- grain: one row per country (ISO 3166 alpha-2; '??' when the bidder is not in silver.users).
-- inputs: gold.bidder_analytics, silver.users
-- used by: User Analytics dashboard (geography)
select
    coalesce(users.country, '??') as country,
    count(*) as bidders,
    cast(sum(bidders.total_spend) as double) as spend_usd
from gold.bidder_analytics as bidders
left join silver.users as users on users.user_id = bidders.bidder_id
where bidders.first_bid_time < $end::date + 1 and bidders.last_bid_time >= $start::date
group by 1
order by bidders desc, country
