-- exec_totals: the headline figures of a period and of the previous period of the same length.
-- grain: one row per period ('current', 'previous').
-- inputs: gold.auction_results
-- used by: Executive Summary dashboard (metrics with their change)
-- active auctions = auctions open at some moment of the period (opened before its end, ending after its start).
with
periods as (
    select 'current' as period, $start::date as first_day, $end::date as last_day
    union all
    select 'previous', $prev_start::date, $prev_end::date
),
auctions as (
    select * from gold.auction_results where $category is null or category = $category
),
final as (
    select
        periods.period,
        count(*) filter (where auctions.date between periods.first_day and periods.last_day and auctions.status = 'closed')
            as auctions_closed,
        count(*) filter (where auctions.date between periods.first_day and periods.last_day and auctions.sold)
            as transactions,
        cast(coalesce(sum(auctions.final_price_usd)
            filter (where auctions.date between periods.first_day and periods.last_day), 0) as double) as gmv_usd,
        cast(coalesce(sum(auctions.fee_usd)
            filter (where auctions.date between periods.first_day and periods.last_day), 0) as double) as fees_usd,
        count(*) filter (
            where auctions.start_time < periods.last_day + 1 and auctions.end_time >= periods.first_day
        ) as active_auctions
    from periods
    cross join auctions
    group by periods.period
)
select * from final order by period
