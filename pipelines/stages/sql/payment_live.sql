-- payment_live: one row per live payment, with its coverage span (issue 5). A view: copying
-- ten million payments into a table each night costs more than every reader filtering them.
--
-- docs/architecture.md: a live payment is `kind IN ('normal','repair') AND refunded_by IS NULL`
-- (outputs.md: "neither refunded nor a repair payment" for repeat enrolment, so is_repair is
-- kept as a column and each user filters it). Readers keep only payments made on or before
-- their as-of date (`paid_at < $as_of + 1 day`). Months are numbered year * 12 + (month - 1)
-- so that spans compare as integers: a resident payment covers its whole coverage year
-- (policy.md section 1), an employee contribution its month.

CREATE OR REPLACE VIEW main.payment_live AS
SELECT
    payment_id,
    id_number                                  AS person_id,
    scheme,
    kind,
    (kind = 'repair')                          AS is_repair,
    pooling_division,
    period_year,
    period_month,
    paid_at,
    CASE WHEN scheme = 'resident' THEN period_year * 12
         ELSE period_year * 12 + period_month - 1 END AS first_month_index,
    CASE WHEN scheme = 'resident' THEN period_year * 12 + 11
         ELSE period_year * 12 + period_month - 1 END AS last_month_index
FROM staging.tax_payment
WHERE kind IN ('normal', 'repair')
  AND refunded_by IS NULL;
