"""Key rotation and re-identification: the only code that turns placeholders back into originals.

Why a separate module: re-identification is a privileged act for the key holder, so every call is
audited (who, which placeholders or transcript, how many) in the same transaction, and nothing here is
reachable from the batch flow or the web app's coder views.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.anonymise.entities import PLACEHOLDER_RE
from pipeline.anonymise.keys import Keyring
from pipeline.anonymise.pseudonyms import lookup_key
from pipeline.anonymise.terms import normalise_term
from pipeline.errors import QualcodeError
from pipeline.store.audit import audit
from pipeline.store.models import AnonymisationEvent, Pseudonym, TermList, Transcript


@dataclass(frozen=True, slots=True)
class Reidentified:
    placeholder: str
    entity: str
    originals: tuple[str, ...]  # canonical first, then linked variants

    def __repr__(self) -> str:  # never print originals by accident
        return f"Reidentified({self.placeholder!r}, variants={len(self.originals)})"


def _lookup(session: Session, keyring: Keyring, placeholder: str) -> Reidentified | None:
    canonical = session.scalars(
        select(Pseudonym).where(Pseudonym.placeholder == placeholder, Pseudonym.canonical_id.is_(None))
    ).first()
    if canonical is None:
        return None
    variants = session.scalars(select(Pseudonym).where(Pseudonym.canonical_id == canonical.id).order_by(Pseudonym.id))
    originals = [keyring.decrypt(canonical.encrypted_original)]
    originals += [keyring.decrypt(v.encrypted_original) for v in variants]
    return Reidentified(placeholder, canonical.entity_type, tuple(dict.fromkeys(originals)))


def reidentify(session: Session, keyring: Keyring, items: list[str], actor: str) -> dict[str, list[Reidentified]]:
    """Originals for placeholders (``[PERSON_7]``) or transcript ids (every placeholder used in it).

    Audited: one row per item. Raises ``QualcodeError`` for an item that is neither.
    """
    out: dict[str, list[Reidentified]] = {}
    for item in items:
        item = item.strip()
        if PLACEHOLDER_RE.fullmatch(item):
            found = _lookup(session, keyring, item)
            out[item] = [found] if found else []
            audit(session, actor, "reidentify", "pseudonym", item, found=bool(found))
        elif item.isdigit():
            transcript = session.get(Transcript, int(item))
            if transcript is None:
                raise QualcodeError(f"transcript {item} does not exist")
            placeholders = session.scalars(
                select(AnonymisationEvent.placeholder)
                .where(AnonymisationEvent.transcript_id == transcript.id)
                .distinct()
                .order_by(AnonymisationEvent.placeholder)
            ).all()
            found_all = [r for p in placeholders if (r := _lookup(session, keyring, p)) is not None]
            out[item] = found_all
            audit(session, actor, "reidentify", "transcript", transcript.id, placeholders=len(found_all))
        else:
            raise QualcodeError(f"{item!r} is neither a placeholder like [PERSON_7] nor a transcript id")
    return out


def reidentified_text(session: Session, keyring: Keyring, transcript_id: int, actor: str) -> str:
    """The transcript's anonymised text with every placeholder replaced by its original (audited)."""
    transcript = session.get(Transcript, transcript_id)
    if transcript is None or transcript.anonymised_text is None:
        raise QualcodeError(f"transcript {transcript_id} does not exist or has no text")
    cache: dict[str, str] = {}

    def original(match: object) -> str:
        placeholder = match.group(0)  # type: ignore[attr-defined]
        if placeholder not in cache:
            found = _lookup(session, keyring, placeholder)
            cache[placeholder] = found.originals[0] if found else placeholder
        return cache[placeholder]

    text = PLACEHOLDER_RE.sub(original, transcript.anonymised_text)
    audit(session, actor, "reidentify.text", "transcript", transcript_id, placeholders=len(cache))
    return text


@dataclass(frozen=True, slots=True)
class RotationReport:
    old_key_ids: tuple[str, ...]
    new_key_id: str
    pseudonyms: int
    deny_terms: int


def rotate_map(session: Session, keyring: Keyring, actor: str) -> RotationReport:
    """Re-encrypt and re-hash the whole map under ``keyring``'s current key (older keys must be in it).

    Runs in the caller's transaction: either every row moves to the new key or none does.
    """
    pseudonyms = session.scalars(select(Pseudonym)).all()
    for row in pseudonyms:
        original = keyring.decrypt(row.encrypted_original)
        row.encrypted_original = keyring.reencrypt(row.encrypted_original)
        row.lookup_hash = keyring.lookup_hash(f"{row.entity_type}:{lookup_key(row.entity_type, original)}")
        row.key_id = keyring.key_id
    deny = session.scalars(select(TermList).where(TermList.kind == "deny")).all()
    for term_row in deny:
        if term_row.encrypted_term is None:
            continue
        term = keyring.decrypt(term_row.encrypted_term)
        term_row.encrypted_term = keyring.reencrypt(term_row.encrypted_term)
        term_row.lookup_hash = keyring.lookup_hash(f"deny:{normalise_term(term)}")
    events = session.scalars(select(AnonymisationEvent).where(AnonymisationEvent.encrypted_original.is_not(None)))
    n_events = 0
    for event in events:
        event.encrypted_original = keyring.reencrypt(event.encrypted_original)
        n_events += 1
    session.flush()
    report = RotationReport(keyring.key_ids[1:], keyring.key_id, len(pseudonyms), len(deny))
    audit(
        session,
        actor,
        "key.rotate",
        "keyring",
        keyring.key_id,
        pseudonyms=len(pseudonyms),
        deny_terms=len(deny),
        event_originals=n_events,
        old_key_ids=list(report.old_key_ids),
    )
    return report
