-- Analyst views over the published marts (DuckDB schema main).
-- One statement per view. pipelines.io.catalog creates each whose inputs exist and comments
-- it from schemas/marts.py (VIEWS). Coverage rate by division and by grid:
-- v_coverage_flags_by_division and v_coverage_flags_by_grid (views_coverage.sql, issue 5).

CREATE OR REPLACE VIEW main.v_lapses_by_year AS
SELECT year::INTEGER AS year,
       count(*) FILTER (WHERE status <> 'none')::BIGINT AS persons,
       count(*) FILTER (WHERE status = 'covered')::BIGINT AS covered,
       count(*) FILTER (WHERE status = 'lapsed')::BIGINT AS lapsed,
       round(count(*) FILTER (WHERE status = 'lapsed')
             / nullif(count(*) FILTER (WHERE status <> 'none'), 0), 4)::DOUBLE AS lapse_rate
FROM main.coverage_year
GROUP BY year
ORDER BY year;

-- The window is the national rule's newborn_window_days (main.region_parameters).
CREATE OR REPLACE VIEW main.v_newborn_enrolment_90d AS
WITH window_days AS (
    SELECT newborn_window_days AS days FROM main.region_parameters WHERE region = 'national'
),
newborns AS (
    SELECT person_id, birth_date FROM main.person
    WHERE birth_date >= (SELECT make_date(min(year)::INTEGER, 1, 1) FROM main.coverage_year)
),
first_paid AS (
    SELECT t.id_number AS person_id, min(t.paid_at)::DATE AS first_paid_date
    FROM staging.tax_payment AS t
    JOIN newborns AS n ON n.person_id = t.id_number
    WHERE t.scheme = 'resident' AND t.kind = 'normal' AND t.refunded_by IS NULL
      AND t.period_year >= year(n.birth_date)
    GROUP BY t.id_number
)
SELECT strftime(n.birth_date, '%Y-%m') AS birth_month,
       count(*)::BIGINT AS newborns,
       count(*) FILTER (WHERE f.first_paid_date <= n.birth_date + (SELECT days FROM window_days)::INTEGER)::BIGINT
           AS enrolled_within_90d,
       count(*) FILTER (WHERE f.first_paid_date > n.birth_date + (SELECT days FROM window_days)::INTEGER)::BIGINT
           AS enrolled_later,
       count(*) FILTER (WHERE f.first_paid_date IS NULL)::BIGINT AS not_enrolled,
       round(count(*) FILTER (WHERE f.first_paid_date <= n.birth_date + (SELECT days FROM window_days)::INTEGER)
             / count(*), 4)::DOUBLE AS rate_within_90d
FROM newborns AS n
LEFT JOIN first_paid AS f USING (person_id)
GROUP BY birth_month
ORDER BY birth_month;

CREATE OR REPLACE VIEW main.v_incentive_totals_by_region AS
SELECT region,
       year::INTEGER AS year,
       count(*)::BIGINT AS persons,
       count(*) FILTER (WHERE total_incentive > 0)::BIGINT AS persons_with_incentive,
       sum(continuous_incentive)::DOUBLE AS continuous_incentive,
       sum(zero_claim_incentive)::DOUBLE AS zero_claim_incentive,
       sum(total_incentive)::DOUBLE AS total_incentive,
       sum(lapse_penalty)::DOUBLE AS lapse_penalty,
       sum(outpatient_incentive)::DOUBLE AS outpatient_incentive
FROM main.policy_status
GROUP BY region, year
ORDER BY year, region;

CREATE OR REPLACE VIEW main.v_waiting_period_counts AS
SELECT region,
       year::INTEGER AS year,
       wait_months::INTEGER AS wait_months,
       exemption,
       count(*)::BIGINT AS persons,
       count(*) FILTER (WHERE in_waiting_period)::BIGINT AS in_waiting_period
FROM main.policy_status
GROUP BY ALL
ORDER BY year, region, wait_months, exemption NULLS FIRST;

CREATE OR REPLACE VIEW main.v_worklist_summary AS
SELECT grid_code, "case", count(*)::BIGINT AS cases, min(due_date) AS earliest_due_date
FROM main.worklist
GROUP BY ALL
ORDER BY grid_code, "case";

CREATE OR REPLACE VIEW main.v_rejects_by_source AS
SELECT source, "check", count(*)::BIGINT AS rejects, count(DISTINCT file)::BIGINT AS files
FROM main.rejects
GROUP BY ALL
ORDER BY rejects DESC, source, "check";
