-- fx_usd: fixed reference rates that turn each marketplace currency into US dollars.
-- grain: one row per currency (every code in pipelines.contracts.CURRENCIES; a test checks it).
-- inputs: none (reference data, reviewed by hand; not market rates).
-- used by: the gold queries that add money across currencies (daily_revenue, bidder_analytics, seller_stats).
with
final as (
    select *
    from (
        values
            ('USD', 1.000000),
            ('EUR', 1.080000),
            ('GBP', 1.270000),
            ('CAD', 0.730000),
            ('AUD', 0.660000),
            ('CHF', 1.130000),
            ('SEK', 0.095000)
    ) as rates (currency, usd_rate)
)

select currency, cast(usd_rate as decimal(12, 6)) as usd_rate from final
