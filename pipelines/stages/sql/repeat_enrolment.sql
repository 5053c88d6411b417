-- repeat_enrolment (重复参保): one row per person x coverage year x kind (issue 5, outputs.md).
--
-- Reads main.payment_live, main.person and the staged household, residence_permit and student
-- (home divisions). Live = neither refunded nor a repair payment
-- (outputs.md), so every CTE below starts from `NOT is_repair`. Columns: person_id,
-- period ('YYYY'), kind, payment_ids (all payments involved), keep_payment_id (resident_twice
-- only: the one payment kept), kept_payment_ids (what is kept: that payment, or the employee
-- contributions of the overlapping months; empty after death), refund_payment_ids (lists are
-- sorted payment ids joined by ';', as schemas/marts.py keeps them text), overlap_months,
-- action (refund | stop), reason, since (the day the repeat arose), detected_on.
-- Parameter: $as_of.

CREATE OR REPLACE TABLE main.repeat_enrolment AS
WITH
-- live, not repair, and known on the as-of date. NOT MATERIALIZED: each reader scans only the
-- scheme and columns it needs, cheaper than writing every live payment to a temporary result
live AS NOT MATERIALIZED (
    SELECT * FROM main.payment_live
    WHERE NOT is_repair AND paid_at < $as_of::DATE + INTERVAL 1 DAY
),
resident AS (SELECT * FROM live WHERE scheme = 'resident'),
employee AS (SELECT * FROM live WHERE scheme = 'employee'),

-- rule resident_twice: two or more live resident payments for the same coverage year;
-- keep the one paid in the home division, else the earliest paid; refund the others.
-- A GROUP BY finds those person-years (a count window over every resident payment took
-- twice as long), and home divisions are looked up for their persons only.
twice_years AS (
    SELECT person_id, period_year
    FROM resident
    GROUP BY person_id, period_year
    HAVING count(*) >= 2
),

-- the divisions where the person lives or studies (outputs.md: residence permit or household
-- residence division, or school division; as written, any permit or school record counts, not
-- only a currently valid permit or an enrolled student), each with its prefecture and province,
-- so that a prefecture-level pooling division (Tianjin: 120000) matches a county residence
own_divisions AS (
    SELECT id_number AS person_id, residence_division AS own FROM staging.household
    UNION SELECT id_number, permit_division FROM staging.residence_permit
    UNION SELECT id_number, school_division FROM staging.student
),
home_divisions AS (
    SELECT DISTINCT person_id, division
    FROM own_divisions,
         LATERAL (SELECT unnest([own, left(own, 4) || '00', left(own, 2) || '0000']) AS division)
    WHERE own IS NOT NULL
      AND person_id IN (SELECT person_id FROM twice_years)
),

resident_ranked AS (
    SELECT r.*, (d.division IS NOT NULL) AS is_home
    FROM resident AS r
    JOIN twice_years AS t USING (person_id, period_year)
    LEFT JOIN home_divisions AS d
      ON d.person_id = r.person_id AND d.division = r.pooling_division
),
resident_twice AS (
    SELECT person_id,
           period_year,
           'resident_twice' AS kind,
           list(payment_id ORDER BY paid_at, payment_id) AS payment_ids,
           arg_min(payment_id, (NOT is_home, paid_at, payment_id)) AS keep_payment_id,
           12 AS overlap_months,
           'refund' AS action,
           bool_or(is_home) AS kept_at_home,
           -- the year became a repeat when its second payment was made
           (list(paid_at ORDER BY paid_at))[2]::DATE AS since
    FROM resident_ranked
    GROUP BY person_id, period_year
),

-- rule employee_and_resident: an employee contribution for a month of a year whose resident
-- payment had been made on or before that month's last day; keep the employee scheme
overlap_months AS (
    SELECT e.person_id, e.period_year, e.period_month,
           e.payment_id AS employee_payment_id, r.payment_id AS resident_payment_id,
           greatest(make_date(e.period_year, e.period_month, 1), r.paid_at::DATE) AS overlap_from
    FROM employee AS e
    JOIN resident AS r
      ON r.person_id = e.person_id
     AND r.period_year = e.period_year
     AND r.paid_at < make_date(e.period_year, e.period_month, 1) + INTERVAL 1 MONTH
),
employee_and_resident AS (
    SELECT person_id,
           period_year,
           'employee_and_resident' AS kind,
           list_sort(list_distinct(list(employee_payment_id) || list(resident_payment_id)))
               AS payment_ids,
           -- the employee scheme is kept: no single payment is kept, the employee
           -- contributions of the overlapping months are listed in kept_payment_ids
           NULL::VARCHAR AS keep_payment_id,
           list_sort(list_distinct(list(employee_payment_id))) AS kept_payment_ids,
           list_sort(list_distinct(list(resident_payment_id))) AS refund_payment_ids,
           count(DISTINCT period_month) AS overlap_months,
           'refund' AS action,
           min(overlap_from) AS since
    FROM overlap_months
    GROUP BY person_id, period_year
),

-- rule after_death: a live employee contribution for a month after the month of death, or a
-- live resident payment for a year after the year of death; stop and refund
after_death_payments AS (
    SELECT l.*, p.death_date,
           CASE WHEN l.scheme = 'employee' THEN make_date(l.period_year, l.period_month, 1)
                ELSE make_date(l.period_year, 1, 1) END AS covers_from
    FROM live AS l
    JOIN main.person AS p USING (person_id)
    WHERE p.death_date IS NOT NULL
      AND ((l.scheme = 'employee'
            AND l.first_month_index > year(p.death_date) * 12 + month(p.death_date) - 1)
        OR (l.scheme = 'resident' AND l.period_year > year(p.death_date)))
),
after_death AS (
    SELECT person_id,
           period_year,
           'after_death' AS kind,
           list(payment_id ORDER BY paid_at, payment_id) AS payment_ids,
           NULL::VARCHAR AS keep_payment_id,
           list_sort(list(payment_id)) AS refund_payment_ids,
           -- a resident payment after death pays for the whole year
           CASE WHEN bool_or(scheme = 'resident') THEN 12
                ELSE count(DISTINCT period_month) END AS overlap_months,
           'stop' AS action,
           any_value(death_date) AS death_date,
           min(covers_from) AS since
    FROM after_death_payments
    GROUP BY person_id, period_year
),

-- the three rules, one row per person x year x kind
repeats AS (
SELECT person_id, period_year::VARCHAR AS period, kind, payment_ids, keep_payment_id,
       [keep_payment_id] AS kept_payment_ids,
       list_sort(list_filter(payment_ids, lambda id: id <> keep_payment_id)) AS refund_payment_ids,
       overlap_months, action,
       CASE WHEN kept_at_home
            THEN 'resident scheme paid ' || len(payment_ids) || ' times for ' || period_year
                 || ': keep the payment in the residence or study region, refund the others'
            ELSE 'resident scheme paid ' || len(payment_ids) || ' times for ' || period_year
                 || ': none in the residence or study region, keep the earliest paid, '
                 || 'refund the others'
       END AS reason,
       since, $as_of::DATE AS detected_on
FROM resident_twice
UNION ALL BY NAME
SELECT person_id, period_year::VARCHAR AS period, kind, payment_ids, keep_payment_id,
       kept_payment_ids, refund_payment_ids, overlap_months, action,
       'employee contributions for ' || overlap_months || ' month(s) of ' || period_year
       || ' already covered by a resident payment: keep the employee scheme, refund the '
       || 'resident payment for those months' AS reason,
       since, $as_of::DATE AS detected_on
FROM employee_and_resident
UNION ALL BY NAME
SELECT person_id, period_year::VARCHAR AS period, kind, payment_ids, keep_payment_id,
       refund_payment_ids, overlap_months, action,
       'coverage for ' || period_year || ' paid after death on ' || death_date::VARCHAR
       || ': stop the enrolment and refund' AS reason,
       since, $as_of::DATE AS detected_on
FROM after_death
)

SELECT person_id, period, kind,
       array_to_string(list_sort(payment_ids), ';')        AS payment_ids,
       keep_payment_id,
       array_to_string(kept_payment_ids, ';')              AS kept_payment_ids,
       array_to_string(refund_payment_ids, ';')            AS refund_payment_ids,
       overlap_months::INTEGER                             AS overlap_months,
       action, reason, since, detected_on
FROM repeats
ORDER BY person_id, period, kind;
