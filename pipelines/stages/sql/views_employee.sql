-- views_employee: analyst views over main.contribution_finding (issue 11).
--
-- v_contribution_findings_by_employer: one row per (employer, employer type, pooling division)
-- with at least one finding. Flexible workers have no employer: their findings group under
-- employer_id NULL per pooling division. amount_difference = paid - expected (yuan), so an
-- employer that systematically underpays shows a large negative total.

CREATE OR REPLACE VIEW main.v_contribution_findings_by_employer AS
SELECT
    employer_id,
    employer_type,
    pooling_division,
    count(*)                                                    AS findings,
    count(*) FILTER (WHERE finding = 'employer_type_rate')      AS employer_type_rate,
    count(*) FILTER (WHERE finding = 'base_below_minimum')      AS base_below_minimum,
    count(*) FILTER (WHERE finding = 'amount_mismatch')         AS amount_mismatch,
    count(DISTINCT person_id)                                   AS persons,
    min(period)                                                 AS first_period,
    max(period)                                                 AS last_period,
    round(sum(amount - expected_amount), 2)                     AS amount_difference,
    count(*) FILTER (WHERE in_transition)                       AS in_transition
FROM main.contribution_finding
GROUP BY employer_id, employer_type, pooling_division
ORDER BY findings DESC, employer_id NULLS LAST, pooling_division;
