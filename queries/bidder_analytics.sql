-- bidder_analytics: each bidder's activity, wins and spend, with a behavioural segment.
-- grain: one row per bidder with at least one valid bid.
-- inputs: intermediate.bidder_auctions (silver.bids per bidder and auction), silver.auctions, ref.fx_usd
-- used by: User Analytics dashboard
-- (bids come grouped per bidder and auction: cheaper than count(distinct) on 10M rows.)
-- win_rate = auctions won / auctions bid on; total_spend = final prices of auctions won, in USD.
-- segment: 'power' (5+ wins or 5,000+ USD spent), 'frequent' (20+ bids), 'buyer' (won at least once),
--   otherwise 'browser'.
with
bidder_auctions as (select * from intermediate.bidder_auctions),
auctions as (select * from silver.auctions),
fx as (select * from ref.fx_usd),

activity as (
    select
        bidder_id,
        cast(sum(bids) as bigint) as bids,
        count(*) as auctions_bid,
        min(first_bid_time) as first_bid_time,
        max(last_bid_time) as last_bid_time
    from bidder_auctions
    group by bidder_id
),

wins as (
    select
        auctions.winner_id as bidder_id,
        count(*) as auctions_won,
        sum(cast(round(auctions.final_price * fx.usd_rate, 2) as decimal(18, 2))) as spend
    from auctions
    left join fx using (currency)
    where auctions.sold
    group by auctions.winner_id
),

joined as (
    select
        activity.*,
        coalesce(wins.auctions_won, 0) as auctions_won,
        cast(round(coalesce(wins.spend, 0), 2) as decimal(18, 2)) as total_spend
    from activity
    left join wins using (bidder_id)
),

final as (
    select
        bidder_id,
        bids,
        auctions_bid,
        auctions_won,
        round(auctions_won / auctions_bid, 4) as win_rate,
        total_spend,
        first_bid_time,
        last_bid_time,
        case
            when auctions_won >= 5 or total_spend >= 5000 then 'power'
            when bids >= 20 then 'frequent'
            when auctions_won >= 1 then 'buyer'
            else 'browser'
        end as segment
    from joined
)

select * from final order by bidder_id
