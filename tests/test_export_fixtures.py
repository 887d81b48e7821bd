"""SYNTHETIC fixture for the export tests: a tiny coded project written straight into the database.

Everything here is invented for testing (no real transcript, person or place). The project has:

* a three-code, two-theme codebook stored as the active version;
* transcript T1 (site S01, social worker, with non-ASCII and non-BMP characters to check that selection
  positions count characters, not bytes), blind double-coded by alice and bob, with two lead
  adjudications and a coder's note;
* transcript T2 (site S02, police) with review decisions, an auto-applied model decision, an imported
  decision and a manual decision on a code the codebook does not define;
* transcript T3 with no decisions, and a quarantined file T4 with no text at all.

The "raw" versions of T1 and T2 exist only in this module: the database holds the anonymised text, as
the batch flow would store it. Tests assert that nothing only the raw text holds reaches an export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import textwrap
from dataclasses import dataclass

from pipeline.codebook import Codebook, loads_codebook
from pipeline.store.db import session_scope
from pipeline.store.models import Code, CodebookVersion, Coding, Segment, Transcript, Turn, User

CODEBOOK_YAML = textwrap.dedent(
    """\
    # SYNTHETIC codebook for export tests
    format: qualcode-codebook/1
    name: Export test codebook
    version: "1.0"
    description: Synthetic.
    themes:
      - id: referral
        name: Referral
        description: How concerns are passed on.
        codes:
          - id: referral_route
            name: Referral route
            definition: The route a concern takes to Prevent or children's social care.
          - id: referral_delay
            name: Referral delay
            definition: Time lost before a referral is made.
      - id: wellbeing
        name: Wellbeing
        description: The family's situation.
        codes:
          - id: family_support
            name: Family support
            definition: Support offered to the family.
    """
)

# (speaker, role, raw sentence, anonymised sentence). Raw-only tokens: "Jane Doe", "Leeds", "07700 900123".
T1_TURNS = [
    ("Interviewer", "interviewer", "How did the referral start?", "How did the referral start?"),
    (
        "Participant",
        "participant",
        "Jane Doe rang the MASH from Leeds — the café was closed.",
        "[PERSON_1] rang the MASH from [LOCATION_1] — the café was closed.",
    ),
    (
        "Participant",
        "participant",
        "It took three weeks before anyone called back 😞 on 07700 900123.",
        "It took three weeks before anyone called back 😞 on [PHONE_1].",
    ),
    (
        "Participant",
        "participant",
        "Her family got support from the early help team, and the delay hurt.",
        "Her family got support from the early help team, and the delay hurt.",
    ),
]
T2_TURNS = [
    ("Participant", "participant", "We sent it straight to Prevent.", "We sent it straight to Prevent."),
    (
        "Participant",
        "participant",
        "Jane Doe's dad wanted no help at all.",
        "[PERSON_1]'s dad wanted no help at all.",
    ),
    ("Participant", "participant", "Then the school got involved.", "Then the school got involved."),
]
T3_TURNS = [("Participant", "participant", "Nothing to add.", "Nothing to add.")]
RAW_ONLY = ("Jane Doe", "Leeds", "07700 900123", "Doe")
T1_FILE = "interview_jane_doe_S01.txt"  # an identifying file name (hidden by hide_file_names)
WHEN = dt.datetime(2026, 3, 2, 10, 0, 0)


@dataclass(frozen=True)
class SeededProject:
    """Ids the tests need; ``segments[(transcript label, index)]`` is a segment id."""

    codebook: Codebook
    transcripts: dict[str, int]
    segments: dict[tuple[str, int], int]
    anonymised: dict[str, str]


def _text(turns: list[tuple[str, str, str, str]], which: int) -> tuple[str, list[tuple[int, int, str, str]]]:
    """Join sentences as ``Speaker: sentence`` lines; return the text and (start, end, speaker, role) per turn."""
    parts: list[str] = []
    spans = []
    pos = 0
    for speaker, role, *sentences in turns:
        prefix = f"{speaker}: "
        sentence = sentences[which]
        start = pos + len(prefix)
        parts.append(prefix + sentence + "\n")
        spans.append((start, start + len(sentence), speaker, role))
        pos += len(prefix) + len(sentence) + 1
    return "".join(parts), spans


def raw_text(label: str) -> str:
    return _text({"T1": T1_TURNS, "T2": T2_TURNS, "T3": T3_TURNS}[label], 0)[0]


def _transcript(session, label, turns, *, name, site, role, date) -> tuple[Transcript, list[Segment], str]:  # type: ignore[no-untyped-def]
    text, spans = _text(turns, 1)
    raw, _ = _text(turns, 0)
    row = Transcript(
        content_hash=hashlib.sha256(raw.encode()).hexdigest(),
        source_name=name,
        format="txt",
        kind="interview",
        site_code=site,
        participant_role=role,
        interview_date=date,
        status="done",
        anonymised_text=text,
        created_at=WHEN,
        updated_at=WHEN,
    )
    session.add(row)
    session.flush()
    segments = []
    for i, (start, end, speaker, srole) in enumerate(spans):
        turn = Turn(transcript_id=row.id, index=i, speaker=speaker, role=srole, start_char=start, end_char=end)
        session.add(turn)
        session.flush()
        seg_text = text[start:end]
        segment = Segment(
            transcript_id=row.id,
            turn_id=turn.id,
            index=i,
            start_char=start,
            end_char=end,
            text=seg_text,
            text_hash=hashlib.sha256(seg_text.encode()).hexdigest(),
            speaker_role=srole,
        )
        session.add(segment)
        segments.append(segment)
    session.flush()
    return row, segments, text


def seed_project(url: str) -> SeededProject:
    """Write the synthetic project into the (migrated, empty) database at ``url``."""
    book = loads_codebook(CODEBOOK_YAML, source="export-test.yaml")
    with session_scope(url) as session:
        version = CodebookVersion(
            name=book.name,
            version=book.version,
            content_hash=book.content_hash,
            content=book.to_dict(),
            is_active=True,
        )
        version.codes = [
            Code(
                code_key=c.id,
                theme_key=c.theme_id,
                theme_name=book.theme(c.theme_id).name,
                name=c.name,
                definition=c.definition,
                definition_hash=c.definition_hash,
            )
            for c in book.codes
        ]
        session.add(version)
        for name, role in (("alice", "coder"), ("bob", "coder"), ("lead", "lead")):
            session.add(User(username=name, password_hash="x", role=role))
        t1, s1, text1 = _transcript(
            session, "T1", T1_TURNS, name=T1_FILE, site="S01", role="social worker", date=dt.date(2026, 3, 1)
        )
        t2, s2, text2 = _transcript(
            session, "T2", T2_TURNS, name="interview_b.txt", site="S02", role="police officer", date=None
        )
        t3, _s3, text3 = _transcript(session, "T3", T3_TURNS, name="interview_c.txt", site="S01", role=None, date=None)
        session.add(Transcript(content_hash="f" * 64, source_name="broken.pdf", format="pdf", status="quarantined"))

        def coding(seg: Segment, code: str, coder: str, applied: bool, source: str, **extra: object) -> None:
            session.add(
                Coding(
                    segment_id=seg.id,
                    code_key=code,
                    coder=coder,
                    applied=applied,
                    source=source,
                    created_at=WHEN,
                    updated_at=WHEN,
                    **extra,
                )
            )

        # Blind double-coding of T1 (no review items: each coder's rows mark the segment as finished).
        coding(s1[1], "referral_route", "alice", True, "blind", certainty=4)
        coding(s1[1], "referral_route", "bob", True, "blind")
        coding(s1[1], "family_support", "bob", True, "blind")  # alice did not tick it: an unadjudicated split
        coding(s1[2], "referral_delay", "alice", True, "blind", note="Delay of three weeks; see [PHONE_1] call.")
        coding(s1[2], "family_support", "bob", False, "blind")
        coding(s1[3], "family_support", "alice", True, "blind")
        coding(s1[3], "family_support", "bob", True, "blind")
        coding(s1[3], "referral_delay", "bob", True, "blind")
        # Lead resolutions: seg 2 delay -> no (alice said yes, bob no); seg 3 delay -> yes (bob yes, alice no).
        coding(s1[2], "referral_delay", "lead", False, "adjudication", note="Not a referral delay.")
        coding(s1[3], "referral_delay", "lead", True, "adjudication")
        # T2: review decisions, a model auto-apply, an imported decision, a manual code outside the codebook.
        coding(s2[0], "referral_route", "alice", True, "review", certainty=5)
        coding(s2[1], "family_support", "bob", False, "review")
        coding(s2[1], "referral_delay", "model:v1", True, "model", model_version="v1")
        coding(s2[0], "referral_route", "carol", True, "import")
        coding(s2[2], "school_involvement", "bob", True, "manual")
        session.flush()
        return SeededProject(
            codebook=book,
            transcripts={"T1": t1.id, "T2": t2.id, "T3": t3.id},
            segments={**{("T1", i): s.id for i, s in enumerate(s1)}, **{("T2", i): s.id for i, s in enumerate(s2)}},
            anonymised={"T1": text1, "T2": text2, "T3": text3},
        )


def test_seed_is_consistent(db_url: str) -> None:
    """The fixture itself: segment text is the slice at its offsets, and raw-only tokens are not stored."""
    from sqlalchemy import select

    project = seed_project(db_url)
    with session_scope(db_url) as session:
        for segment in session.scalars(select(Segment)):
            text = session.get(Transcript, segment.transcript_id).anonymised_text
            assert text[segment.start_char : segment.end_char] == segment.text
        stored = " ".join(t or "" for t in session.scalars(select(Transcript.anonymised_text)))
    for token in RAW_ONLY:
        assert token not in stored
        assert token in raw_text("T1") + raw_text("T2")
    assert "😞" in project.anonymised["T1"]  # a character outside the BMP: 1 code point, 4 UTF-8 bytes
