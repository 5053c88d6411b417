"""identity_review: candidate persons for records whose ID number failed validation (issue 5).

One row per (rejected record, candidate person), or one row per rejected record with no
candidate; nothing is ever merged automatically, a reviewer decides.

Two passes, as research-notes.md advises (term frequencies on data full of duplicates are
biased, loose blocking explodes):

1. deterministic: the number, normalised, equals a person's number (a record rejected for a
   birth date or sex that disagrees with a valid number), or agrees with one on the first 17
   characters (a wrong check character; a legacy 15-digit number upgraded);
2. probabilistic, only for the rest: a Fellegi-Sunter model (Splink) on name, birth date, sex
   and division, with fixed m and u probabilities (a review queue of a few records a night is
   too small to train on), blocked on birth date and on name + sex.

This module is text and settings only; ``pipelines.io.linkage`` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

# Full-width digits and X (GB 18030) -> ASCII, as ingest normalises (extracts.md "Identity").
FULL_WIDTH = "０１２３４５６７８９Ｘｘx"
HALF_WIDTH = "0123456789XXX"


@dataclass(frozen=True)
class ReviewPlan:
    """Everything ``pipelines.io.linkage`` needs to publish the queue: SQL texts (run in this
    order, each materialised under its name), the Splink model and the queue limits."""

    records_sql: str
    deterministic_sql: str
    splink_left_sql: str
    splink_right_sql: str
    queue_sql: str
    splink_settings: SettingsCreator
    min_match_probability: float = 0.9
    max_candidates: int = 3


# Rejected records to review, one row each. They arrive as delivered (strings): the number is
# normalised and cut to its 17-character stem (a 15-digit legacy number is upgraded by inserting
# '19' before its 2-digit year); sex and birth date are parsed as ingest would, falling back to
# what the number itself says when the record has none (claims rows carry no demographics).
REVIEW_RECORDS_SQL = f"""
WITH normalised AS (
    SELECT *,
           upper(translate(trim(id_number_raw), '{FULL_WIDTH}', '{HALF_WIDTH}')) AS norm,
           CASE trim(sex::VARCHAR) WHEN '1' THEN 1 WHEN '男' THEN 1
                                   WHEN '2' THEN 2 WHEN '女' THEN 2 END AS record_sex,
           try_strptime(trim(birth_date::VARCHAR), ['%Y-%m-%d', '%Y/%m/%d', '%Y%m%d'])::DATE
               AS record_birth_date
    FROM staging.rejected_identity
),
stemmed AS (
    SELECT *,
           CASE WHEN length(norm) = 18 THEN left(norm, 17)
                WHEN length(norm) = 15 THEN left(norm, 6) || '19' || substr(norm, 7, 9)
           END AS id_stem
    FROM normalised
)
SELECT row_number() OVER (ORDER BY source, source_file, line) AS record_id,
       source, source_file, line, "check", id_number_raw, name,
       coalesce(record_sex,
                CASE WHEN try_cast(substr(id_stem, 17, 1) AS INTEGER) % 2 = 1 THEN 1
                     WHEN try_cast(substr(id_stem, 17, 1) AS INTEGER) % 2 = 0 THEN 2 END) AS sex,
       coalesce(record_birth_date, try_strptime(substr(id_stem, 7, 8), '%Y%m%d')::DATE)
           AS birth_date,
       division,
       id_stem,
       norm AS id_number_normalised
FROM stemmed
"""

# Pass 1: the same number, or the same first 17 characters.
DETERMINISTIC_SQL = """
SELECT r.record_id, p.person_id AS candidate_person_id,
       CASE WHEN r.id_number_normalised = p.person_id THEN 'id_exact'
            ELSE 'id_first17' END AS method,
       1.0::DOUBLE AS match_probability, NULL::DOUBLE AS match_weight
FROM review_records AS r
JOIN main.person AS p ON left(p.person_id, 17) = r.id_stem
WHERE p.person_id NOT LIKE 'B:%'
"""

# Splink inputs: the same columns on both sides; the person's division is where they live.
SPLINK_LEFT_SQL = """
SELECT record_id::VARCHAR AS unique_id, name, sex::INTEGER AS sex, birth_date, division
FROM review_records
WHERE record_id NOT IN (SELECT record_id FROM deterministic)
"""
SPLINK_RIGHT_SQL = """
SELECT person_id AS unique_id, name, sex::INTEGER AS sex, birth_date,
       coalesce(residence_division, hukou_division, birth_division) AS division
FROM main.person
"""

# Final queue: every review record, its candidates ranked (or none), never merged.
QUEUE_SQL = """
SELECT r.record_id, r.source, r.source_file, r.line, r."check", r.id_number_raw,
       r.name, r.sex, r.birth_date, r.division,
       c.candidate_person_id, p.name AS candidate_name, p.sex AS candidate_sex,
       p.birth_date AS candidate_birth_date,
       coalesce(p.residence_division, p.hukou_division) AS candidate_division,
       coalesce(c.method, 'no_candidate') AS method,
       c.match_probability, c.match_weight,
       CASE WHEN c.candidate_person_id IS NOT NULL
            THEN row_number() OVER (PARTITION BY r.record_id
                                    ORDER BY c.match_probability DESC, c.candidate_person_id)
       END AS candidate_rank,
       'pending' AS review_status
FROM review_records AS r
LEFT JOIN candidates AS c USING (record_id)
LEFT JOIN main.person AS p ON p.person_id = c.candidate_person_id
QUALIFY candidate_rank IS NULL OR candidate_rank <= $max_candidates
ORDER BY r.record_id, candidate_rank
"""


def splink_settings() -> SettingsCreator:
    """Fellegi-Sunter model linking rejected records (left) to persons (right).

    m: how often true matches agree at each level (data-entry noise); u: how often random
    pairs do (Chinese given names repeat a lot: exact-name u is set high-ish, 1/2000).
    """
    name = cl.LevenshteinAtThresholds("name", [1]).configure(
        m_probabilities=[0.88, 0.10, 0.02], u_probabilities=[0.0005, 0.005, 0.9945]
    )
    birth_date = cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            # a transposed day and month or a one-digit typo stays within the year
            cll.CustomLevel("year(birth_date_l) = year(birth_date_r)").configure(
                label_for_charts="same year"
            ),
            cll.ElseLevel(),
        ],
        output_column_name="birth_date",
    ).configure(m_probabilities=[0.90, 0.07, 0.03], u_probabilities=[0.00004, 0.012, 0.98796])
    sex = cl.ExactMatch("sex").configure(
        m_probabilities=[0.98, 0.02], u_probabilities=[0.5, 0.5]
    )
    division = cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("division"),
            cll.ExactMatchLevel("division"),
            cll.CustomLevel("left(division_l, 4) = left(division_r, 4)").configure(
                label_for_charts="same prefecture"
            ),
            cll.CustomLevel("left(division_l, 2) = left(division_r, 2)").configure(
                label_for_charts="same province"
            ),
            cll.ElseLevel(),
        ],
        output_column_name="division",
    ).configure(
        m_probabilities=[0.70, 0.15, 0.10, 0.05], u_probabilities=[0.01, 0.05, 0.20, 0.74]
    )
    return SettingsCreator(
        link_type="link_only",
        comparisons=[name, birth_date, sex, division],
        blocking_rules_to_generate_predictions=[
            block_on("birth_date"),
            block_on("name", "sex"),
        ],
        probability_two_random_records_match=1e-4,
        retain_matching_columns=True,
    )


def review_plan(min_match_probability: float = 0.9, max_candidates: int = 3) -> ReviewPlan:
    """The identity review as run each night (one place to change its limits)."""
    return ReviewPlan(
        records_sql=REVIEW_RECORDS_SQL,
        deterministic_sql=DETERMINISTIC_SQL,
        splink_left_sql=SPLINK_LEFT_SQL,
        splink_right_sql=SPLINK_RIGHT_SQL,
        queue_sql=QUEUE_SQL,
        splink_settings=splink_settings(),
        min_match_probability=min_match_probability,
        max_candidates=max_candidates,
    )
