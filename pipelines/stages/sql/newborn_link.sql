-- newborn_link: one row per birth certificate linked to the child's ID number (issue 5).
--
-- extracts.md "Identity": a birth record is keyed by birth_cert_no and linked to the child's
-- number when it appears, either on a later version of the birth record (child_id_number) or
-- as a household record with the same birth date and sex in a parent's household.
-- A link, once made, is never lost: this table accumulates across runs (the build file is a
-- copy of the last published warehouse) and a certificate already linked keeps its link.
-- Parameter: $as_of (the run date, recorded as linked_on).

CREATE TABLE IF NOT EXISTS main.newborn_link (
    birth_cert_no VARCHAR NOT NULL,
    person_id     VARCHAR NOT NULL,   -- the child's normalised 18-character ID number
    method        VARCHAR NOT NULL,   -- birth_record | household
    linked_on     DATE    NOT NULL    -- run date on which the link was first made
);

INSERT INTO main.newborn_link
WITH
already_linked AS (
    SELECT birth_cert_no, person_id FROM main.newborn_link
),

-- 1. the birth record itself carries the child's number
by_birth_record AS (
    SELECT birth_cert_no, child_id_number AS person_id, 'birth_record' AS method
    FROM staging.birth
    WHERE child_id_number IS NOT NULL
      AND birth_cert_no NOT IN (SELECT birth_cert_no FROM already_linked)
),

-- numbers that are taken: a household candidate must not be a child already linked
claimed_numbers AS (
    SELECT person_id FROM already_linked
    UNION SELECT person_id FROM by_birth_record
),

waiting_births AS (
    SELECT b.*
    FROM staging.birth AS b
    WHERE b.birth_cert_no NOT IN (SELECT birth_cert_no FROM already_linked)
      AND b.birth_cert_no NOT IN (SELECT birth_cert_no FROM by_birth_record)
),

-- 2. the household of either parent (parents are identified by their ID numbers)
-- (two equi-joins, not one join on OR: DuckDB cannot hash-join an OR condition)
parent_households AS (
    SELECT w.birth_cert_no, h.household_id
    FROM waiting_births AS w
    JOIN staging.household AS h ON h.id_number = w.mother_id_number
    UNION
    SELECT w.birth_cert_no, h.household_id
    FROM waiting_births AS w
    JOIN staging.household AS h ON h.id_number = w.father_id_number
),

-- a member of that household born the same day with the same sex, not a parent
household_candidates AS (
    SELECT DISTINCT w.birth_cert_no, c.id_number AS person_id,
           (c.name = w.child_name) AS is_same_name
    FROM waiting_births AS w
    JOIN parent_households AS p USING (birth_cert_no)
    JOIN staging.household AS c
      ON c.household_id = p.household_id
     AND c.birth_date = w.birth_date
     AND c.sex = w.sex
    WHERE c.id_number IS DISTINCT FROM w.mother_id_number
      AND c.id_number IS DISTINCT FROM w.father_id_number
      AND c.id_number NOT IN (SELECT person_id FROM claimed_numbers)
),

-- same-sex twins give two candidates per certificate: the child's name decides, if it can
narrowed AS (
    SELECT *
    FROM household_candidates
    QUALIFY count(*) OVER (PARTITION BY birth_cert_no) = 1
         OR (is_same_name AND count(*) FILTER (WHERE is_same_name)
                                OVER (PARTITION BY birth_cert_no) = 1)
),

-- a number that would be linked to two certificates is ambiguous: link neither
by_household AS (
    SELECT birth_cert_no, person_id, 'household' AS method
    FROM narrowed
    QUALIFY count(*) OVER (PARTITION BY person_id) = 1
)

SELECT birth_cert_no, person_id, method, $as_of::DATE AS linked_on FROM by_birth_record
UNION ALL
SELECT birth_cert_no, person_id, method, $as_of::DATE AS linked_on FROM by_household;
