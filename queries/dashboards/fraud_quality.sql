-- fraud_quality: detection quality per planted pattern, measured on the generator's ground truth.
-- grain: one row per fraud pattern (fraud_label) found in the lake.
-- inputs: silver.bids (fraud_label, set only by the generator), silver.fraud_alerts
-- used by: Fraud dashboard
-- Per bidder, as `bench stream --quality` counts: a fraudster is a bidder with a labelled bid (the label
-- names the pattern); caught = alerted. recall = caught / fraudsters. Alerts name no pattern, so precision is
-- over all alerted bidders: alerted fraudsters / alerted bidders (the same value on every row).
with
labelled as (
    select bidder_id, min(fraud_label) as pattern
    from silver.bids
    where fraud_label is not null
    group by bidder_id
),
alerted as (select distinct bidder_id from silver.fraud_alerts),
totals as (
    select
        count(*) as alerted_bidders,
        count(labelled.bidder_id) as alerted_fraudsters
    from alerted
    left join labelled using (bidder_id)
)
select
    labelled.pattern,
    count(*) as fraudsters,
    count(alerted.bidder_id) as caught,
    count(alerted.bidder_id) / count(*) as recall,
    any_value(totals.alerted_fraudsters / nullif(totals.alerted_bidders, 0)) as precision
from labelled
left join alerted using (bidder_id)
cross join totals
group by labelled.pattern
order by labelled.pattern
