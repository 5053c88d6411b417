-- coverage_flag: one row per person in scope on $as_of, the first flag that holds (issue 5).
--
-- outputs.md "Population in scope" and "Flags". "Covered" is the monthly coverage of policy.md
-- section 2: a month is covered by a live, non-repair resident payment for its year or an
-- employee contribution for it, and only eligible months count (born on or before the month's
-- last day, not dead before its first day), on the line from January of $history_start_year
-- to the as-of month. Months are indexed year * 12 + month - 1.
-- Reads main.person, main.payment_live, main.repeat_enrolment.
-- Parameters: $as_of, $history_start_year.

CREATE OR REPLACE TABLE main.coverage_flag AS
WITH
run AS (
    SELECT $as_of::DATE AS as_of,
           year($as_of::DATE) * 12 + month($as_of::DATE) - 1 AS as_of_month,
           $history_start_year::INTEGER * 12 AS line_start
),

after_death AS (        -- flag 1 uses exactly the after_death repeat rule
    SELECT person_id, min(since) AS since,
           string_agg(reason, '; ' ORDER BY period) AS detail
    FROM main.repeat_enrolment
    WHERE kind = 'after_death'
    GROUP BY person_id
),

repeat_this_year AS (   -- flag 2: a repeat_enrolment row for the as-of year
    SELECT person_id, min(since) AS since,
           string_agg(kind || ': refund ' || refund_payment_ids, '; '
                      ORDER BY kind) AS detail
    FROM main.repeat_enrolment, run
    WHERE period = year(run.as_of)::VARCHAR
    GROUP BY person_id
),

-- population in scope (outputs.md); "alive on the as-of date": no death on or before it
-- (a person who died on the as-of date is no longer alive on it)
in_scope AS (
    SELECT p.*,
           run.as_of - p.birth_date AS age_days,
           CASE WHEN d.person_id IS NOT NULL THEN 'deceased_covered'
                WHEN (p.death_date IS NULL OR p.death_date > run.as_of)
                     AND (p.hukou_status = 'normal' OR p.permit_division IS NOT NULL
                          OR p.is_student) THEN 'resident'
                ELSE 'newborn' END AS scope
    FROM main.person AS p
    CROSS JOIN run
    LEFT JOIN after_death AS d ON d.person_id = p.person_id
    WHERE d.person_id IS NOT NULL
       OR ((p.death_date IS NULL OR p.death_date > run.as_of)
           AND (p.hukou_status = 'normal' OR p.permit_division IS NOT NULL OR p.is_student))
       OR (list_contains(string_split(p.sources, ','), 'birth')
           AND run.as_of - p.birth_date BETWEEN 0 AND 365)
),

-- each person's eligible window on the coverage line. person_key numbers the persons so that
-- the gaps-and-islands window below sorts and carries an integer, not the 18-character ID
-- (half its cost); MATERIALIZED so that both readers see the same numbering.
windows AS MATERIALIZED (
    SELECT s.person_id,
           row_number() OVER () AS person_key,
           greatest(run.line_start,
                    coalesce(year(s.birth_date) * 12 + month(s.birth_date) - 1, run.line_start))
               AS window_start,
           least(run.as_of_month,
                 coalesce(year(s.death_date) * 12 + month(s.death_date) - 1, run.as_of_month))
               AS window_end
    FROM in_scope AS s, run
),

-- covering payments clipped to the window
covered_spans AS (
    SELECT w.person_key,
           greatest(l.first_month_index, w.window_start) AS span_start,
           least(l.last_month_index, w.window_end) AS span_end
    FROM main.payment_live AS l
    JOIN windows AS w USING (person_id)
    CROSS JOIN run
    WHERE NOT l.is_repair
      AND l.paid_at < run.as_of + INTERVAL 1 DAY
      AND greatest(l.first_month_index, w.window_start) <= least(l.last_month_index, w.window_end)
),

-- merge overlapping or touching spans into covered runs (gaps and islands): a span starts a
-- run when it begins more than a month after every earlier span ended. Runs are disjoint and
-- ordered, so the last run starts at the last run start and ends at the latest span end: no
-- run numbering (a second window) or grouping by run is needed.
run_breaks AS (
    SELECT *,
           CASE WHEN span_start <= max(span_end) OVER (
                        PARTITION BY person_key ORDER BY span_start, span_end
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) + 1
                THEN FALSE ELSE TRUE END AS is_run_start
    FROM covered_spans
),
last_runs AS (
    SELECT person_key,
           max(span_start) FILTER (WHERE is_run_start) AS run_start,
           max(span_end) AS run_end
    FROM run_breaks
    GROUP BY person_key
),

coverage AS (
    SELECT w.person_id, w.window_start, w.window_end,
           c.person_key IS NOT NULL AS is_ever_covered,
           c.run_end AS last_covered_month,
           CASE WHEN c.run_end = w.window_end THEN c.run_start END AS current_run_start,
           coalesce(c.run_end = w.window_end AND w.window_end = run.as_of_month, FALSE)
               AS is_covered_as_of
    FROM windows AS w
    CROSS JOIN run
    LEFT JOIN last_runs AS c USING (person_key)
),

-- outputs.md flag order: the first that holds wins
flagged AS (
    SELECT s.person_id, s.scope, s.birth_date, s.death_date, s.age_days, s.is_student,
           c.*, d.since AS death_since, d.detail AS death_detail,
           r.since AS repeat_since, r.detail AS repeat_detail,
           CASE
               WHEN d.person_id IS NOT NULL THEN 'deceased_covered'
               WHEN r.person_id IS NOT NULL THEN 'repeat_enrolled'
               WHEN s.age_days BETWEEN 0 AND 90 AND NOT c.is_covered_as_of THEN 'newborn_pending'
               WHEN s.age_days BETWEEN 91 AND 365 AND NOT c.is_ever_covered THEN 'newborn_overdue'
               WHEN s.is_student AND NOT c.is_covered_as_of THEN 'student_uninsured'
               WHEN NOT c.is_ever_covered THEN 'uninsured'
               WHEN NOT c.is_covered_as_of THEN 'lapsed'
               ELSE 'insured'
           END AS flag
    FROM in_scope AS s
    JOIN coverage AS c USING (person_id)
    LEFT JOIN after_death AS d USING (person_id)
    LEFT JOIN repeat_this_year AS r USING (person_id)
),

-- month indexes back to dates, for `since` and the plain-language detail
dated AS (
    SELECT *,
           make_date(last_covered_month // 12, last_covered_month % 12 + 1, 1) AS last_covered,
           make_date(current_run_start // 12, current_run_start % 12 + 1, 1) AS run_start,
           make_date(window_start // 12, window_start % 12 + 1, 1) AS line_start,
           -- uninsured, lapsed, student_uninsured: first month of the current uncovered run
           make_date(coalesce(last_covered_month + 1, window_start) // 12,
                     coalesce(last_covered_month + 1, window_start) % 12 + 1, 1) AS gap_start
    FROM flagged
)

SELECT
    person_id,
    flag,
    CASE flag
        WHEN 'deceased_covered' THEN death_since
        WHEN 'repeat_enrolled' THEN repeat_since
        WHEN 'newborn_pending' THEN birth_date
        WHEN 'newborn_overdue' THEN birth_date + 91            -- first overdue day
        WHEN 'insured' THEN run_start
        ELSE gap_start
    END AS since,
    CASE flag
        WHEN 'deceased_covered' THEN death_detail
        WHEN 'repeat_enrolled' THEN repeat_detail
        WHEN 'newborn_pending' THEN 'born ' || birth_date || ' (' || age_days
                                    || ' days ago), not covered this month'
        WHEN 'newborn_overdue' THEN 'born ' || birth_date || ' (' || age_days
                                    || ' days ago), never covered'
        WHEN 'student_uninsured'
            THEN 'enrolled student, not covered this month'
                 || CASE WHEN is_ever_covered
                         THEN ' (last covered ' || strftime(last_covered, '%Y-%m') || ')'
                         ELSE ' (never covered)' END
        WHEN 'uninsured' THEN 'never covered since ' || strftime(line_start, '%Y-%m')
        WHEN 'lapsed' THEN 'last covered month ' || strftime(last_covered, '%Y-%m')
        ELSE 'covered since ' || strftime(run_start, '%Y-%m')
    END AS detail,
    is_covered_as_of,
    is_ever_covered,
    scope
FROM dated;
