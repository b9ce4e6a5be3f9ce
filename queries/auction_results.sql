-- auction_results: each auction with the facts the dashboards filter and add up (day, category, prices).
-- grain: one row per auction (its current state: open or closed).
-- inputs: silver.auctions, silver.bids, intermediate.auction_bids (valid bids per auction), ref.fx_usd
-- used by: Executive Summary (GMV, fees, transactions, active auctions by day and category) and Auction
--   Performance (bids per auction, price increase median and mean, hours to first bid, sniping) dashboards:
--   one row per auction keeps their date-range and category filters off the 10M silver bids.
-- date = the UTC day the auction ends (closes); money in USD at ref.fx_usd, rounded to the cent; fee_usd is
--   daily_revenue's final value fee (sold auctions only). late_bids = valid bids in the last 5 % of the
--   auction's window (sniping); price_increase_pct = (final - start) / start * 100 for sold auctions.
with
auctions as (select * from silver.auctions),
bids as (select * from silver.bids),
bids_per_auction as (select * from intermediate.auction_bids),
fx as (select * from ref.fx_usd),

fee_schedule as (
    select 7500.00 as tier_limit, 0.1325 as tier_rate, 0.0235 as above_rate, 0.30 as per_order
),

late as (
    select bids.auction_id, count(*) as late_bids
    from bids
    join auctions using (auction_id)
    where epoch_ms(bids.bid_time)
        >= epoch_ms(auctions.end_time) - (epoch_ms(auctions.end_time) - epoch_ms(auctions.start_time)) * 0.05
    group by bids.auction_id
),

priced as (
    select
        auctions.*,
        cast(round(auctions.start_price * fx.usd_rate, 2) as decimal(18, 2)) as start_price_usd,
        cast(round(auctions.final_price * fx.usd_rate, 2) as decimal(18, 2)) as price_usd
    from auctions
    left join fx using (currency)
),

final as (
    select
        utc_day(priced.end_time) as date,
        priced.category,
        priced.auction_id,
        priced.seller_id,
        priced.status,
        coalesce(priced.sold, false) as sold,
        priced.start_time,
        priced.end_time,
        priced.start_price_usd,
        case when priced.sold then priced.price_usd end as final_price_usd,
        case when priced.sold then cast(round(
            least(priced.price_usd, tier_limit) * tier_rate + greatest(priced.price_usd - tier_limit, 0) * above_rate
            + per_order, 2) as decimal(18, 2)) end as fee_usd,
        case when priced.sold then round(cast(
            (priced.final_price - priced.start_price) / priced.start_price * 100 as double), 4) end as price_increase_pct,
        coalesce(bids_per_auction.bids, 0) as bids,
        coalesce(late.late_bids, 0) as late_bids,
        round(epoch(bids_per_auction.first_bid_time - priced.start_time) / 3600.0, 4) as hours_to_first_bid
    from priced
    cross join fee_schedule
    left join bids_per_auction using (auction_id)
    left join late using (auction_id)
)

select * from final order by date, category, auction_id
