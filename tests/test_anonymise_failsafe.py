"""Fail safe on bad input: a text the anonymiser cannot process is never stored, in clear or at all.

All texts here are SYNTHETIC, written for these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.anonymise.anonymiser import Anonymiser
from pipeline.batch import ingest_file_safely
from pipeline.settings import get_settings
from pipeline.store import session_scope
from pipeline.store.models import AnonymisationEvent, Segment, Transcript


def test_a_crash_in_the_anonymiser_quarantines_the_file_and_stores_no_text(
    db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = project / "data" / "inbox"
    path = inbox / "crash_case.txt"
    path.write_text("Interviewer: Who referred him?\nRespondent: Quentaria Blomfeld rang the MASH.\n", "utf-8")

    def broken(self, raw_doc, pseudonyms=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("Quentaria Blomfeld")  # a recogniser crash whose message quotes the text

    monkeypatch.setattr(Anonymiser, "anonymise_document", broken)
    outcome = ingest_file_safely(path, get_settings())

    assert outcome.outcome == "quarantined"
    assert "anonymiser could not process it (RuntimeError)" in (outcome.reason or "")
    assert "Quentaria" not in (outcome.reason or "")  # the exception's message is never kept
    assert (project / "data" / "quarantine" / "crash_case.txt").exists() and not path.exists()
    with session_scope(db_url) as session:
        row = session.scalars(select(Transcript)).one()
        assert row.status == "quarantined" and row.anonymised_text is None
        assert session.scalar(select(func.count()).select_from(Segment)) == 0
        assert session.scalar(select(func.count()).select_from(AnonymisationEvent)) == 0
