"""Contact matching for Russian data: normalise, score with two thresholds, explain, index.

Pure functions, no I/O: the portal parts (match-or-create, scan and merge) build on this API.
"""

from .contacts import MAIL_RU_DOMAINS, email_review_key, normalise_email, normalise_phone
from .index import MAX_BLOCK, PersonIndex, blocking_keys
from .names import (
    DIMINUTIVES,
    compare_given,
    compare_patronymic,
    compare_surname,
    given_name,
    is_patronymic,
    normalise_name,
    patronymic,
    skeleton,
    split_full_name,
    surname,
    transliterate,
)
from .score import (
    REVIEW_THRESHOLD,
    SAME_THRESHOLD,
    Decision,
    Fired,
    Person,
    Profile,
    Verdict,
    compare_profiles,
    profile,
    same_person,
)

__all__ = [
    "DIMINUTIVES",
    "MAIL_RU_DOMAINS",
    "MAX_BLOCK",
    "REVIEW_THRESHOLD",
    "SAME_THRESHOLD",
    "Decision",
    "Fired",
    "Person",
    "PersonIndex",
    "Profile",
    "Verdict",
    "blocking_keys",
    "compare_given",
    "compare_patronymic",
    "compare_profiles",
    "compare_surname",
    "email_review_key",
    "given_name",
    "is_patronymic",
    "normalise_email",
    "normalise_name",
    "normalise_phone",
    "patronymic",
    "profile",
    "same_person",
    "skeleton",
    "split_full_name",
    "surname",
    "transliterate",
]
