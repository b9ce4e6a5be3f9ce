-- exec_totals: the headline figures of a period and of the previous period of the same length.
-- grain: one row per period ('current', 'previous').
-- inputs: gold.auction_results
-- used by: Executive Summary dashboard (metrics with their change)
-- active auctions = auctions open at some moment of the period (opened before its end, ending after its start).
-- One pass over the auctions: each figure of each period is a filtered aggregate.
with
auctions as (
    select * from gold.auction_results where $category is null or category = $category
),
sums as (
    select
        count(*) filter (where date between $start and $end and status = 'closed') as closed_now,
        count(*) filter (where date between $prev_start and $prev_end and status = 'closed') as closed_before,
        count(*) filter (where date between $start and $end and sold) as sold_now,
        count(*) filter (where date between $prev_start and $prev_end and sold) as sold_before,
        sum(final_price_usd) filter (where date between $start and $end) as gmv_now,
        sum(final_price_usd) filter (where date between $prev_start and $prev_end) as gmv_before,
        sum(fee_usd) filter (where date between $start and $end) as fees_now,
        sum(fee_usd) filter (where date between $prev_start and $prev_end) as fees_before,
        count(*) filter (where start_time < $end::date + 1 and end_time >= $start::date) as active_now,
        count(*) filter (where start_time < $prev_end::date + 1 and end_time >= $prev_start::date) as active_before
    from auctions
),
final as (
    select 'current' as period, closed_now as auctions_closed, sold_now as transactions,
        cast(coalesce(gmv_now, 0) as double) as gmv_usd, cast(coalesce(fees_now, 0) as double) as fees_usd,
        active_now as active_auctions
    from sums
    union all
    select 'previous', closed_before, sold_before, cast(coalesce(gmv_before, 0) as double),
        cast(coalesce(fees_before, 0) as double), active_before
    from sums
)
select * from final order by period
