-- 0002_gold: schema gold, the lake's gold tables for BI tools (filled by `python -m app publish`).
-- grain: the primary key of each table is the grain of queries/<table>.sql.
-- inputs: gold/<table>/<table>.parquet of the lake, copied whole by publish (staging table, then swap).
-- used by: BI tools. Types mirror the lake (tests/test_publish.py checks it): DECIMAL(18,2) -> numeric(18,2),
--   timestamp[UTC] -> timestamptz, int64 -> bigint, double -> double precision, date -> date.
CREATE SCHEMA IF NOT EXISTS gold;

CREATE TABLE gold.daily_revenue (
    date            date PRIMARY KEY,
    auctions_closed bigint,
    auctions_sold   bigint,
    gmv             numeric(18, 2),
    fees            numeric(18, 2),
    bids            bigint,
    active_bidders  bigint
);

CREATE TABLE gold.category_performance (
    category               text PRIMARY KEY,
    auctions               bigint,
    auctions_sold          bigint,
    success_rate           double precision,
    avg_bids_per_auction   double precision,
    avg_price_increase_pct double precision,
    avg_hours_to_first_bid double precision
);

CREATE TABLE gold.bidder_analytics (
    bidder_id      text PRIMARY KEY,
    bids           bigint,
    auctions_bid   bigint,
    auctions_won   bigint,
    win_rate       double precision,
    total_spend    numeric(18, 2),
    first_bid_time timestamptz,
    last_bid_time  timestamptz,
    segment        text
);

CREATE TABLE gold.seller_stats (
    seller_id         text PRIMARY KEY,
    auctions          bigint,
    auctions_sold     bigint,
    gmv               numeric(18, 2),
    avg_final_price   numeric(18, 2),
    flagged_bid_share double precision
);

CREATE TABLE gold.fraud_daily (
    date            date PRIMARY KEY,
    scored_bids     bigint,
    flagged_bids    bigint,
    alerts          bigint,
    flagged_bidders bigint
);

CREATE TABLE gold.hourly_activity (
    hour            timestamptz PRIMARY KEY,
    bids            bigint,
    bidders         bigint,
    auctions_opened bigint
);

-- what publish last copied into each gold table (a hash of the lake's file): an unchanged table is skipped
CREATE TABLE auction_meta.gold_published (
    table_name   text PRIMARY KEY,
    source_hash  text NOT NULL,
    rows         bigint NOT NULL,
    published_at timestamptz NOT NULL
);
