-- fraud_quality: detection quality per planted pattern, measured on the generator's ground truth.
-- grain: one row per fraud pattern.
-- inputs: gold.fraud_detection
-- used by: Fraud dashboard
select pattern, fraudsters, caught, recall, precision from gold.fraud_detection order by pattern
