-- category_performance: how auctions fare per category.
-- grain: one row per category.
-- inputs: silver.auctions, intermediate.auction_bids (valid bids per auction)
-- used by: Auction Performance dashboard
-- success_rate = sold / closed; avg_bids_per_auction over all auctions (zero-bid ones count);
-- avg_price_increase_pct = mean over sold auctions of (final - start) / start * 100;
-- avg_hours_to_first_bid = mean over auctions with bids of hours from opening to the first valid bid.
with
auctions as (select * from silver.auctions),
bids_per_auction as (select * from intermediate.auction_bids),

per_auction as (
    select
        auctions.category,
        auctions.status,
        auctions.sold,
        cast((auctions.final_price - auctions.start_price) / auctions.start_price * 100 as double) as increase_pct,
        coalesce(bids_per_auction.bids, 0) as bids,
        epoch(bids_per_auction.first_bid_time - auctions.start_time) / 3600.0 as hours_to_first_bid
    from auctions
    left join bids_per_auction using (auction_id)
),

final as (
    select
        category,
        count(*) as auctions,
        count(*) filter (where sold) as auctions_sold,
        round(count(*) filter (where sold) / nullif(count(*) filter (where status = 'closed'), 0), 4) as success_rate,
        round(avg(bids), 4) as avg_bids_per_auction,
        round(avg(increase_pct) filter (where sold), 4) as avg_price_increase_pct,
        round(avg(hours_to_first_bid), 4) as avg_hours_to_first_bid
    from per_auction
    group by category
)

select * from final order by category
