-- Analyst views over coverage_flag (issue 5): coverage rate and the count of each flag, by
-- division and by grid. A person counts where they live: residence division, else hukou
-- division, else (an unnumbered newborn) the birth division. The deceased (flag
-- deceased_covered) are counted but left out of the rate, as in views_analyst.sql; covered
-- means the as-of month is covered (policy.md section 2).

CREATE OR REPLACE VIEW main.v_coverage_flags_by_division AS
WITH located AS (
    SELECT f.flag, f.is_covered_as_of,
           coalesce(p.residence_division, p.hukou_division, p.birth_division) AS division_code
    FROM main.coverage_flag AS f
    JOIN main.person AS p USING (person_id)
)
SELECT l.division_code,
       any_value(d.name)                                                  AS division_name,
       count(*) FILTER (WHERE flag <> 'deceased_covered')                 AS persons,
       count(*) FILTER (WHERE is_covered_as_of)                           AS covered,
       round(count(*) FILTER (WHERE is_covered_as_of)
             / nullif(count(*) FILTER (WHERE flag <> 'deceased_covered'), 0), 4)
                                                                          AS coverage_rate,
       count(*) FILTER (WHERE flag = 'deceased_covered')                  AS count_deceased_covered,
       count(*) FILTER (WHERE flag = 'repeat_enrolled')                   AS count_repeat_enrolled,
       count(*) FILTER (WHERE flag = 'newborn_pending')                   AS count_newborn_pending,
       count(*) FILTER (WHERE flag = 'newborn_overdue')                   AS count_newborn_overdue,
       count(*) FILTER (WHERE flag = 'student_uninsured')              AS count_student_uninsured,
       count(*) FILTER (WHERE flag = 'uninsured')                         AS count_uninsured,
       count(*) FILTER (WHERE flag = 'lapsed')                            AS count_lapsed,
       count(*) FILTER (WHERE flag = 'insured')                           AS count_insured
FROM located AS l
LEFT JOIN reference.divisions AS d ON d.division_code = l.division_code
GROUP BY l.division_code
ORDER BY l.division_code;

CREATE OR REPLACE VIEW main.v_coverage_flags_by_grid AS
WITH located AS (
    SELECT f.flag, f.is_covered_as_of, p.grid_code,
           coalesce(p.residence_division, p.hukou_division, p.birth_division) AS division_code
    FROM main.coverage_flag AS f
    JOIN main.person AS p USING (person_id)
)
SELECT l.grid_code,
       any_value(l.division_code)                                         AS division_code,
       any_value(g.community)                                             AS community,
       any_value(g.worker_name)                                           AS worker_name,
       count(*) FILTER (WHERE flag <> 'deceased_covered')                 AS persons,
       count(*) FILTER (WHERE is_covered_as_of)                           AS covered,
       round(count(*) FILTER (WHERE is_covered_as_of)
             / nullif(count(*) FILTER (WHERE flag <> 'deceased_covered'), 0), 4)
                                                                          AS coverage_rate,
       count(*) FILTER (WHERE flag = 'deceased_covered')                  AS count_deceased_covered,
       count(*) FILTER (WHERE flag = 'repeat_enrolled')                   AS count_repeat_enrolled,
       count(*) FILTER (WHERE flag = 'newborn_pending')                   AS count_newborn_pending,
       count(*) FILTER (WHERE flag = 'newborn_overdue')                   AS count_newborn_overdue,
       count(*) FILTER (WHERE flag = 'student_uninsured')              AS count_student_uninsured,
       count(*) FILTER (WHERE flag = 'uninsured')                         AS count_uninsured,
       count(*) FILTER (WHERE flag = 'lapsed')                            AS count_lapsed,
       count(*) FILTER (WHERE flag = 'insured')                           AS count_insured
FROM located AS l
LEFT JOIN reference.grids AS g ON g.grid_code = l.grid_code
GROUP BY l.grid_code
ORDER BY l.grid_code;
