"""SYNTHETIC test data for the review queue, written straight through the ORM.

Everything here is invented for tests: fictitious interview turns with placeholder identifiers, a small
three-theme codebook, random (seeded) embedding vectors and model suggestions. Nothing is derived from
the shared evaluation data or the sample transcripts, and no batch flow or model is needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from pipeline.embed import settings_identity
from pipeline.review.accounts import create_user
from pipeline.settings import Settings
from pipeline.store.models import (
    Code,
    CodebookVersion,
    Coding,
    Embedding,
    Segment,
    Suggestion,
    Transcript,
    Turn,
)

#: The default settings' embedding identity: the review app looks up similar segments' vectors by it.
EMBEDDING_IDENTITY = settings_identity(Settings())
PASSWORD = "synthetic-password-123"

SYNTHETIC_CODES = [
    # (theme_key, theme_name, code_key, name, definition)
    ("referral", "Pathways and referral", "referral_route", "Referral route",
     "How a concern about a child is passed on to another agency."),
    ("referral", "Pathways and referral", "threshold_judgement", "Threshold judgement",
     "Weighing whether a concern meets the threshold for statutory action."),
    ("multi_agency", "Multi-agency working", "information_sharing", "Information sharing",
     "Passing information between agencies about a child or family."),
    ("multi_agency", "Multi-agency working", "joint_meeting", "Joint meeting",
     "Strategy or panel meetings that bring agencies together."),
    ("confidence", "Confidence and training", "training_gap", "Training gap",
     "A practitioner says training did not prepare them for a situation."),
    ("confidence", "Confidence and training", "seeking_advice", "Seeking advice",
     "Asking a colleague, manager or specialist for advice."),
]

SYNTHETIC_ANSWERS = [
    "We sent the referral to [ORGANISATION_1] after the school raised it with us.",
    "Honestly I wasn't sure it met the threshold, so I talked it through with my manager.",
    "The police shared what they had, but it came through a week later than we needed.",
    "There was a strategy meeting with health, education and the Prevent lead in [LOCATION_2].",
    "Nothing in the training covered online material like that, we were learning as we went.",
    "I rang the duty desk at [ORGANISATION_3] to ask whether this was one for Channel.",
    "The family were worried about what a referral would mean for [PERSON_4] at school.",
    "We agreed a plan at the panel and I wrote it up for the case file the same day.",
]


def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Argon2id with test-sized cost parameters (the default costs ~0.5 s per hash on a loaded CI box).

    Verification reads the parameters from each hash, so everything else runs unchanged.
    """
    from pipeline.review import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@dataclass
class Seeded:
    """Ids of what was created (tests assert against these)."""

    coders: dict[str, int] = field(default_factory=dict)
    leads: dict[str, int] = field(default_factory=dict)
    segments: list[int] = field(default_factory=list)
    suggestions: list[int] = field(default_factory=list)
    codebook_id: int = 0


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def seed_codebook(session: Session) -> int:
    book = CodebookVersion(name="Synthetic test codebook", version="1", content_hash=_hash("synthetic-codebook"),
                           content={"synthetic": True}, is_active=True)
    session.add(book)
    session.flush()
    for theme_key, theme_name, key, name, definition in SYNTHETIC_CODES:
        session.add(
            Code(codebook_id=book.id, code_key=key, theme_key=theme_key, theme_name=theme_name, name=name,
                 definition=definition, include=[f"The speaker describes {name.lower()}."],
                 exclude=["Hypothetical or general statements."], examples=[], definition_hash=_hash(definition))
        )
    return book.id


def seed_users(session: Session, coders: int = 2, leads: int = 1) -> tuple[dict[str, int], dict[str, int]]:
    coder_ids = {}
    for i in range(coders):
        user = create_user(session, f"coder{i + 1}", PASSWORD, "coder", actor="test")
        coder_ids[user.username] = user.id
    lead_ids = {}
    for i in range(leads):
        user = create_user(session, f"lead{i + 1}", PASSWORD, "lead", actor="test")
        lead_ids[user.username] = user.id
    return coder_ids, lead_ids


def seed_transcripts(
    session: Session, n_transcripts: int = 3, answers_per_transcript: int = 8, *, seed: int = 7
) -> list[int]:
    """Interviews of alternating interviewer/participant turns; each participant turn is one segment."""
    rng = np.random.default_rng(seed)
    segment_ids: list[int] = []
    seen: set[str] = set()
    for t in range(n_transcripts):
        parts: list[tuple[str, str, str]] = []
        for a in range(answers_per_transcript):
            parts.append(("Interviewer", "interviewer", f"Can you tell me about case {a + 1}?"))
            answer = SYNTHETIC_ANSWERS[(t * 3 + a) % len(SYNTHETIC_ANSWERS)]
            parts.append(("Participant", "participant", f"{answer} (synthetic case {t + 1}.{a + 1})"))
        text = ""
        spans = []
        for speaker, role, body in parts:
            start = len(text)
            text += body
            spans.append((speaker, role, start, len(text)))
            text += "\n\n"
        transcript = Transcript(
            content_hash=_hash(f"synthetic-transcript-{seed}-{t}"), source_name=f"synthetic_{t + 1}.txt",
            format="txt", kind="interview", site_code=f"LA{t + 1:02d}", participant_role="social worker",
            interview_date=dt.date(2026, 3, 1 + t), status="done", anonymised_text=text,
        )
        session.add(transcript)
        session.flush()
        index = 0
        for i, (speaker, role, start, end) in enumerate(spans):
            turn = Turn(transcript_id=transcript.id, index=i, speaker=speaker, role=role, start_char=start,
                        end_char=end)
            session.add(turn)
            session.flush()
            body = text[start:end]
            segment = Segment(transcript_id=transcript.id, turn_id=turn.id, index=index, start_char=start,
                              end_char=end, text=body, text_hash=_hash(body), speaker_role=role,
                              codable=role == "participant")
            index += 1
            session.add(segment)
            session.flush()
            if segment.codable:
                segment_ids.append(segment.id)
            vector = rng.normal(size=16).astype("<f4")
            if segment.text_hash in seen:
                continue
            seen.add(segment.text_hash)
            session.add(Embedding(text_hash=segment.text_hash, model_name=EMBEDDING_IDENTITY, dim=16,
                                    vector=(vector / np.linalg.norm(vector)).tobytes()))
    session.flush()
    return segment_ids


def seed_suggestions(
    session: Session, segment_ids: list[int], *, per_segment: int = 1, group_every: int = 4, seed: int = 11
) -> list[int]:
    """Queued suggestions with descending priority; every ``group_every`` consecutive ones share a group."""
    rng = np.random.default_rng(seed)
    ids = []
    for n, segment_id in enumerate(segment_ids):
        for k in range(per_segment):
            slot = n // group_every if group_every else n
            code = SYNTHETIC_CODES[(slot + k) % len(SYNTHETIC_CODES)][2]
            group = f"g{n // group_every}" if group_every else None
            suggestion = Suggestion(
                segment_id=segment_id, code_key=code, probability=float(rng.uniform(0.3, 0.85)),
                decision="review", cold_start=False, model_version="synthetic-model-1", status="queued",
                priority=float(len(segment_ids) - n), group_key=group,
            )
            session.add(suggestion)
            session.flush()
            ids.append(suggestion.id)
    return ids


def seed_prior_codings(session: Session, segment_ids: list[int]) -> None:
    """A few earlier human codings so the 'similar segments' reason has something to show."""
    for n, segment_id in enumerate(segment_ids):
        code = SYNTHETIC_CODES[n % len(SYNTHETIC_CODES)][2]
        session.add(Coding(segment_id=segment_id, code_key=code, coder="import:alpha", applied=True,
                           source="import"))
    session.flush()


def seed_all(
    session: Session, *, coders: int = 2, leads: int = 1, transcripts: int = 3, answers: int = 8,
    prior: int = 4, group_every: int = 4,
) -> Seeded:
    """Users, codebook, transcripts, suggestions for every codable segment but the first ``prior`` (which
    get earlier human codings instead)."""
    out = Seeded()
    out.codebook_id = seed_codebook(session)
    out.coders, out.leads = seed_users(session, coders, leads)
    segments = seed_transcripts(session, transcripts, answers)
    seed_prior_codings(session, segments[:prior])
    out.segments = segments
    out.suggestions = seed_suggestions(session, segments[prior:], group_every=group_every)
    return out
