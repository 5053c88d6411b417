-- person (一人一档): one row per person known to any source, as of $as_of (issue 5).
--
-- Key: the normalised 18-character ID number; a newborn whose birth certificate is not yet
-- linked to a number (main.newborn_link, built just before) is keyed 'B:' || birth_cert_no.
-- Sex and birth date of a numbered person come from the number itself (GB 11643: digits 7-14
-- are the birth date, digit 17 is odd for men); ingest has already rejected records whose own
-- birth date or sex disagree with their number. The name is the one of the latest delivery,
-- ties broken by source authority (household first).
-- Parameter: $as_of (decides which residence permit and assistance recognition are current).

CREATE OR REPLACE TABLE main.person AS
WITH
births AS (
    SELECT b.*, coalesce(l.person_id, 'B:' || b.birth_cert_no) AS person_id
    FROM staging.birth AS b
    LEFT JOIN main.newborn_link AS l USING (birth_cert_no)
),

-- every payment source reduced to one row per number before the union (tax_payment is big)
payers AS (
    SELECT id_number, arg_max(name, paid_at) AS name, max(delivery_date) AS delivery_date
    FROM staging.tax_payment
    GROUP BY id_number
),

-- every record that names a person: which source, when delivered, and the name it gives
mentions AS (
    SELECT id_number AS person_id, 'household' AS source, delivery_date, name, 1 AS authority
    FROM staging.household
    UNION ALL SELECT id_number, 'residence_permit', delivery_date, name, 2
              FROM staging.residence_permit
    UNION ALL SELECT id_number, 'student', delivery_date, name, 3 FROM staging.student
    UNION ALL SELECT person_id, 'birth', delivery_date, child_name, 4 FROM births
    UNION ALL SELECT id_number, 'death', delivery_date, name, 5 FROM staging.death
    UNION ALL SELECT id_number, 'assistance', delivery_date, name, 6 FROM staging.assistance
    UNION ALL SELECT id_number, 'tax_payment', delivery_date, name, 7 FROM payers
    -- (DISTINCT on the number alone: DuckDB hashes constant columns too)
    UNION ALL SELECT id_number, 'claims', NULL::DATE, NULL, 8
              FROM (SELECT DISTINCT id_number FROM staging.claims)
    UNION ALL SELECT id_number, 'status_change', NULL::DATE, NULL, 9
              FROM (SELECT DISTINCT id_number FROM staging.status_change)
),

-- one bit per source: a person's sources are gathered as a bit mask (bit_or), not as a list
-- of names, since a list per group costs seconds at a million persons; source_sets then
-- spells out each mask that occurs (a few hundred at most), once. Every source named in
-- mentions must be listed here: a mention of an unlisted one stops the run (known), it is
-- never dropped.
source_bits AS (
    SELECT source, (1 << (row_number() OVER (ORDER BY source) - 1))::INTEGER AS bit
    FROM (VALUES ('assistance'), ('birth'), ('claims'), ('death'), ('household'),
                 ('residence_permit'), ('status_change'), ('student'), ('tax_payment'))
         AS s(source)
),

known AS (
    SELECT m.person_id,
           bit_or(CASE WHEN s.bit IS NULL
                       THEN error('person.sql: source ' || m.source || ' is not in source_bits')
                       ELSE s.bit END) AS source_mask,
           -- latest delivery wins; equal dates: the more authoritative source
           arg_max(m.name, (m.delivery_date, -m.authority)) FILTER (WHERE m.name IS NOT NULL)
               AS name
    FROM mentions AS m
    LEFT JOIN source_bits AS s USING (source)
    WHERE m.person_id IS NOT NULL
    GROUP BY m.person_id
),

-- schemas/marts.py Person.sources is text: the source names, sorted, comma-joined
source_sets AS (
    SELECT k.source_mask, string_agg(s.source, ',' ORDER BY s.source) AS sources
    FROM (SELECT DISTINCT source_mask FROM known) AS k
    JOIN source_bits AS s ON k.source_mask & s.bit <> 0
    GROUP BY k.source_mask
),

-- the newest birth record of a person (a linked child keeps its certificate number)
birth_of AS (
    SELECT person_id, birth_cert_no, sex, birth_date, birth_division,
           mother_id_number, father_id_number
    FROM births
    QUALIFY row_number() OVER (PARTITION BY person_id
                               ORDER BY delivery_date DESC, birth_cert_no) = 1
),

-- an unnumbered newborn lives with its mother (else father) for outreach purposes; their
-- households are looked up for those newborns alone, not joined twice to every person
newborn_home AS (
    SELECT b.person_id,
           coalesce(mother.residence_division, father.residence_division) AS residence_division,
           coalesce(mother.grid_code, father.grid_code)                   AS grid_code
    FROM birth_of AS b
    LEFT JOIN staging.household AS mother ON mother.id_number = b.mother_id_number
    LEFT JOIN staging.household AS father ON father.id_number = b.father_id_number
    WHERE b.person_id LIKE 'B:%'
),

-- a residence permit counts as the residence only while valid on the as-of date
current_permit AS (
    SELECT id_number AS person_id, permit_division, grid_code, phone
    FROM staging.residence_permit
    WHERE issued_date <= $as_of::DATE
      AND (valid_until IS NULL OR valid_until >= $as_of::DATE)
),

current_assistance AS (
    SELECT id_number AS person_id, arg_max(category, recognized_date) AS category
    FROM staging.assistance
    WHERE recognized_date <= $as_of::DATE
      AND (ended_date IS NULL OR ended_date > $as_of::DATE)
    GROUP BY id_number
),

numbered AS (
    SELECT k.person_id, k.name, ss.sources,
           -- GB 11643: birth date in characters 7-14, sex from the parity of character 17
           CASE WHEN k.person_id NOT LIKE 'B:%'
                THEN try_strptime(substr(k.person_id, 7, 8), '%Y%m%d')::DATE END AS id_birth_date,
           CASE WHEN k.person_id LIKE 'B:%' THEN NULL
                WHEN try_cast(substr(k.person_id, 17, 1) AS INTEGER) % 2 = 1 THEN 1
                ELSE 2 END::UTINYINT AS id_sex
    FROM known AS k
    JOIN source_sets AS ss USING (source_mask)
)

SELECT
    n.person_id,
    n.name,
    coalesce(n.id_sex, b.sex)::UTINYINT                          AS sex,
    coalesce(n.id_birth_date, b.birth_date)                      AS birth_date,
    d.death_date,
    h.hukou_division,
    h.status                                                     AS hukou_status,
    h.household_id,
    -- residence: a valid permit, else the household's residence, else (an unnumbered
    -- newborn) the parents'
    coalesce(p.permit_division, h.residence_division,
             nh.residence_division)                              AS residence_division,
    CASE WHEN p.person_id IS NOT NULL THEN p.grid_code
         WHEN h.id_number IS NOT NULL THEN h.grid_code
         ELSE nh.grid_code END                                   AS grid_code,
    (s.status = 'enrolled')                                      AS is_student,
    s.school_code,
    s.school_name,
    s.school_division,
    s.status                                                     AS student_status,
    coalesce(h.phone, p.phone)                                   AS phone,
    a.category                                                   AS assistance_category,
    b.birth_cert_no,
    b.birth_division,
    b.mother_id_number,
    b.father_id_number,
    p.permit_division,
    n.sources
FROM numbered AS n
LEFT JOIN staging.household  AS h ON h.id_number = n.person_id
LEFT JOIN current_permit     AS p ON p.person_id = n.person_id
LEFT JOIN staging.student    AS s ON s.id_number = n.person_id
LEFT JOIN staging.death      AS d ON d.id_number = n.person_id
LEFT JOIN current_assistance AS a ON a.person_id = n.person_id
LEFT JOIN birth_of           AS b ON b.person_id = n.person_id
LEFT JOIN newborn_home       AS nh ON nh.person_id = n.person_id;
