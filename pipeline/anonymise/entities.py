"""Entity types, their placeholders and how Presidio's names map onto them.

Why one table: recognisers speak Presidio's entity names (``PHONE_NUMBER``, ``DATE_TIME`` ...) while
readers of an anonymised transcript see short typed placeholders (``[PHONE_1]``). Keeping the mapping
and the overlap priority here means a new recogniser only has to pick a name.
"""

from __future__ import annotations

from pipeline.placeholders import PLACEHOLDER_RE as PLACEHOLDER_RE  # re-exported: the one definition

#: Presidio / spaCy entity name -> placeholder type. Types not listed map to themselves.
PRESIDIO_TO_TYPE: dict[str, str] = {
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "DATE_TIME": "DATE",
    "LOCATION": "PLACE",
    "ORGANIZATION": "ORG",
    "UK_NHS": "NHS_NUMBER",
    "UK_NINO": "NI_NUMBER",
    "IP_ADDRESS": "URL",
    # The recall-first recogniser's own names, so Presidio's de-duplication never folds its judgement
    # into an NER result of the same span (the anonymiser reads which recogniser flagged a word).
    "NAME_CANDIDATE": "PERSON",
    "PLACE_CANDIDATE": "PLACE",
    "UNKNOWN_CANDIDATE": "NAME",
}

#: Types the anonymiser replaces, most specific first: when detections overlap, the merged span takes
#: the type that comes first here (a postcode inside an address is an address).
TYPE_PRIORITY: tuple[str, ...] = (
    "EMAIL",
    "URL",
    "HANDLE",
    "NHS_NUMBER",
    "NI_NUMBER",
    "PHONE",
    "SCHOOL",
    "PLACE_OF_WORSHIP",
    "ADDRESS",
    "POSTCODE",
    "PERSON",
    "AGE",
    "DATE",
    "CASE_REF",
    "PLACE",
    "ORG",
    "NAME",  # a rare proper noun no recogniser could type: a person, a place or a small organisation
    "IDENTIFIER",
)
_RANK = {name: i for i, name in enumerate(TYPE_PRIORITY)}

#: Presidio entities we ask the analyzer for (anything else a recogniser emits is ignored).
ANALYSED_ENTITIES: tuple[str, ...] = (
    "PERSON",
    "EMAIL_ADDRESS",
    "URL",
    "HANDLE",
    "UK_NHS",
    "UK_NINO",
    "PHONE_NUMBER",
    "ADDRESS",
    "POSTCODE",
    "SCHOOL",
    "PLACE_OF_WORSHIP",
    "CASE_REF",
    "AGE",
    "DATE_TIME",
    "ORGANIZATION",
    "LOCATION",
    "IP_ADDRESS",
    "NAME_CANDIDATE",
    "PLACE_CANDIDATE",
    "UNKNOWN_CANDIDATE",
)


def placeholder_type(presidio_entity: str) -> str:
    """The placeholder type for a Presidio entity name."""
    return PRESIDIO_TO_TYPE.get(presidio_entity, presidio_entity)


def priority(entity_type: str) -> int:
    """Lower is more specific; unknown types rank last."""
    return _RANK.get(entity_type, len(_RANK))


def format_placeholder(entity_type: str, number: int) -> str:
    return f"[{entity_type}_{number}]"
