-- fraud_detection: detection quality per planted pattern, on the generator's ground truth.
-- grain: one row per fraud pattern (fraud_label) present in silver.bids (none for real, unlabelled data).
-- inputs: silver.bids (fraud_label, set only by the generator), silver.fraud_alerts
-- used by: Fraud dashboard (precision/recall, labelled as measured on synthetic ground truth)
-- Per bidder, as `bench stream --quality` counts: a fraudster is a bidder with a labelled bid (the label names
-- the pattern); caught = has an alert; recall = caught / fraudsters. Alerts name no pattern, so precision is
-- over all alerted bidders: alerted fraudsters / alerted bidders (the same on every row).
with
bids as (select * from silver.bids),
alerts as (select * from silver.fraud_alerts),

labelled as (
    select bidder_id, min(fraud_label) as pattern
    from bids
    where fraud_label is not null
    group by bidder_id
),

alerted as (select distinct bidder_id from alerts),

totals as (
    select count(*) as alerted_bidders, count(labelled.bidder_id) as alerted_fraudsters
    from alerted
    left join labelled using (bidder_id)
),

final as (
    select
        labelled.pattern,
        count(*) as fraudsters,
        count(alerted.bidder_id) as caught,
        round(count(alerted.bidder_id) / count(*), 4) as recall,
        round(any_value(totals.alerted_fraudsters / nullif(totals.alerted_bidders, 0)), 4) as precision
    from labelled
    left join alerted using (bidder_id)
    cross join totals
    group by labelled.pattern
)

select * from final order by pattern
