"""``build_anonymiser``: one place that turns settings (and the project's term lists) into an Anonymiser."""

from __future__ import annotations

from functools import lru_cache

from presidio_analyzer import AnalyzerEngine
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.anonymise.anonymiser import Anonymiser
from pipeline.anonymise.engine import build_analyzer
from pipeline.anonymise.gazetteers import load_gazetteers
from pipeline.anonymise.keys import Keyring
from pipeline.anonymise.terms import DenyList, TermMatcher, default_allow_terms, read_terms_file
from pipeline.settings import Settings
from pipeline.store.models import TermList


@lru_cache(maxsize=2)
def shared_analyzer(model_name: str) -> AnalyzerEngine:
    """The analyzer for ``model_name``, built once per process (spaCy loads once)."""
    return build_analyzer(model_name)


def project_terms(
    settings: Settings, session: Session | None = None, keyring: Keyring | None = None
) -> tuple[list[str], list[tuple[str, str]]]:
    """(allow terms, deny (term, entity) pairs) from the defaults, the settings' files and the database.

    Deny entries in the database are encrypted; without a keyring they cannot be read, so they are
    skipped only when no keyring is given (the file/JSONL command without a project).
    """
    allow = default_allow_terms()
    deny: list[tuple[str, str]] = []
    if settings.allow_list_path is not None:
        allow.extend(read_terms_file(settings.allow_list_path))
    if settings.deny_list_path is not None:
        deny.extend((term, "PERSON") for term in read_terms_file(settings.deny_list_path))
    if session is not None:
        for row in session.scalars(select(TermList)).all():
            if row.kind == "allow" and row.term:
                allow.append(row.term)
            elif row.kind == "deny" and row.encrypted_term is not None and keyring is not None:
                deny.append((keyring.decrypt(row.encrypted_term), row.entity_type or "PERSON"))
    return allow, deny


def build_anonymiser(
    settings: Settings, *, session: Session | None = None, keyring: Keyring | None = None
) -> Anonymiser:
    """An ``Anonymiser`` configured from ``settings`` (and the project's TermList rows if a session is given).

    The Presidio analyzer with the installed spaCy model is built lazily once per process and shared.
    """
    allow, deny = project_terms(settings, session, keyring)
    return Anonymiser(
        shared_analyzer(settings.spacy_model),
        allow=TermMatcher.of(allow),
        deny=DenyList.of(deny),
        gazetteers=load_gazetteers(),
        style=settings.pseudonym_style,
        role_patterns=[*settings.speaker_interviewer_patterns, *settings.speaker_participant_patterns],
    )
