-- macros: scalar helpers shared by the gold queries (created before they run).
-- Times in silver are TIMESTAMPTZ; DuckDB's cast/date_trunc on them go through ICU time zones, which
-- costs ~6x more than plain epoch arithmetic. Every lake time is UTC, so the arithmetic is exact.
-- utc_day(t): the UTC calendar day of t.
create or replace macro utc_day(t) as date '1970-01-01' + cast(epoch_ms(t) // 86400000 as integer);
-- utc_hour(t): the start of t's UTC hour.
create or replace macro utc_hour(t) as to_timestamp((epoch_ms(t) // 3600000) * 3600);
