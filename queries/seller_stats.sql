-- seller_stats: each seller's auctions, sales and how much of the bidding on them looks fraudulent.
-- grain: one row per seller with at least one auction.
-- inputs: silver.auctions, silver.bids, ref.fx_usd; parameter $flag_threshold (fraud score that flags a bid)
-- used by: User Analytics dashboard
-- gmv and avg_final_price in USD over sold auctions; flagged_bid_share = flagged / scored bids on the
-- seller's auctions (null when none were scored). Bids are counted per auction before the join to
-- auctions: a join of ~1 row per auction instead of one per bid.
with
auctions as not materialized (select * from silver.auctions),  -- read twice: a scan each, not a copy
bids as (select * from silver.bids),
fx as (select * from ref.fx_usd),

sales as (
    select
        auctions.seller_id,
        count(*) as auctions,
        count(*) filter (where auctions.sold) as auctions_sold,
        sum(cast(round(auctions.final_price * fx.usd_rate, 2) as decimal(18, 2))) filter (where auctions.sold) as gmv,
        avg(cast(round(auctions.final_price * fx.usd_rate, 2) as decimal(18, 2))) filter (where auctions.sold) as avg_final_price
    from auctions
    left join fx using (currency)
    group by auctions.seller_id
),

scoring_per_auction as (
    select
        auction_id,
        count(fraud_score) as scored_bids,
        count(*) filter (where fraud_score >= $flag_threshold) as flagged_bids
    from bids
    where fraud_score is not null  -- unscored bids add nothing here: skip them before grouping
    group by auction_id
),

scoring as (
    select auctions.seller_id, sum(scored_bids) as scored_bids, sum(flagged_bids) as flagged_bids
    from scoring_per_auction
    inner join auctions using (auction_id)
    group by auctions.seller_id
),

final as (
    select
        sales.seller_id,
        sales.auctions,
        sales.auctions_sold,
        cast(round(coalesce(sales.gmv, 0), 2) as decimal(18, 2)) as gmv,
        cast(round(sales.avg_final_price, 2) as decimal(18, 2)) as avg_final_price,
        round(scoring.flagged_bids / nullif(scoring.scored_bids, 0), 4) as flagged_bid_share
    from sales
    left join scoring using (seller_id)
)

select * from final order by seller_id
