"""Agreement from stored decisions: blind negatives, human vs model, disagreements, adjudication, snapshots.

Runs on SQLite and PostgreSQL (``db_url``). Every transcript, segment, user and decision here is
SYNTHETIC, built row by row through the ORM.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.agreement.adjudicate import adjudicate, list_disagreements
from pipeline.agreement.decisions import blind_decisions, db_report, human_model_pairs, model_decisions
from pipeline.agreement.report import ReportOptions
from pipeline.agreement.snapshots import history, latest_flags, snapshot_agreement
from pipeline.cli import app
from pipeline.codebook import codebook_from_data
from pipeline.errors import PermissionDenied, ReviewError
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import (
    AgreementSnapshot,
    AuditLog,
    Batch,
    Code,
    CodebookVersion,
    Coding,
    ReviewItem,
    Segment,
    Suggestion,
    Transcript,
    User,
)

SYNTHETIC_CODEBOOK = {
    "format": "qualcode-codebook/1",
    "name": "Synthetic agreement codebook",
    "version": "1",
    "description": "Synthetic codebook for agreement database tests.",
    "themes": [
        {
            "id": "risk",
            "name": "Risk",
            "description": "Synthetic.",
            "codes": [
                {"id": "online_risk", "name": "Online risk", "definition": "Synthetic."},
                {"id": "family_risk", "name": "Family risk", "definition": "Synthetic."},
            ],
        },
        {
            "id": "practice",
            "name": "Practice",
            "description": "Synthetic.",
            "codes": [{"id": "referral", "name": "Referral", "definition": "Synthetic."}],
        },
    ],
}
CODES = ["online_risk", "family_risk", "referral"]


@pytest.fixture
def codebook():  # type: ignore[no-untyped-def]
    return codebook_from_data(SYNTHETIC_CODEBOOK)


def _segment(session, transcript: Transcript, index: int) -> Segment:  # type: ignore[no-untyped-def]
    seg = Segment(
        transcript_id=transcript.id,
        index=index,
        start_char=index * 10,
        end_char=index * 10 + 9,
        text="[synthetic]",
        text_hash=f"h{transcript.id}-{index}",
    )
    session.add(seg)
    return seg


def _blind(session, segment: Segment, user: User, applied: list[str], done: bool = True) -> None:  # type: ignore[no-untyped-def]
    item = ReviewItem(
        kind="blind",
        segment_id=segment.id,
        assigned_to=user.id,
        lease_owner=user.id,
        status="done" if done else "leased",
        done_at=dt.datetime(2026, 1, 1) if done else None,
    )
    session.add(item)
    session.flush()
    for code in applied:
        session.add(
            Coding(
                segment_id=segment.id,
                code_key=code,
                coder=user.username,
                user_id=user.id,
                applied=True,
                source="blind",
                review_item_id=item.id,
            )
        )


def seed_agreement_project(db_url: str, codebook) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """12 synthetic segments in two batches; ann and bob blind-code all, disagreeing on a few.

    Segments 0-5 (batch 1), 6-11 (batch 2). online_risk: agree everywhere but segment 3; family_risk:
    disagree on 1, 7, 8; referral: nobody applies it. The model scored every segment.
    """
    with session_scope(db_url) as s:
        book = CodebookVersion(name="synthetic", version="1", content_hash="x" * 64, content=codebook.to_dict())
        s.add(book)
        s.flush()
        for code in codebook.codes:
            s.add(
                Code(
                    codebook_id=book.id,
                    code_key=code.id,
                    theme_key=codebook.theme_of(code.id).id,
                    theme_name=codebook.theme_of(code.id).name,
                    name=code.name,
                    definition="d",
                    definition_hash="h",
                )
            )
        users = {
            name: User(username=name, password_hash="x", role=role)
            for name, role in (("ann", "coder"), ("bob", "coder"), ("lena", "lead"), ("carl", "coder"))
        }
        s.add_all(users.values())
        batches = [Batch(status="done"), Batch(status="done")]
        s.add_all(batches)
        s.flush()
        ids = []
        for b, batch in enumerate(batches):
            tr = Transcript(content_hash=f"{b}" * 64, source_name=f"synthetic{b}.txt", format="txt", batch_id=batch.id,
                            status="done")  # processed and released (held transcripts are left out)
            s.add(tr)
            s.flush()
            for i in range(6):
                seg = _segment(s, tr, i)
                s.flush()
                ids.append(seg.id)
        for n, seg_id in enumerate(ids):
            seg = s.get(Segment, seg_id)
            online = n % 2 == 0
            family = n % 3 == 0
            ann = [c for c, v in (("online_risk", online), ("family_risk", family)) if v]
            bob_online = online if n != 3 else not online
            bob_family = family if n not in (1, 7, 8) else not family
            bob = [c for c, v in (("online_risk", bob_online), ("family_risk", bob_family)) if v]
            _blind(s, seg, users["ann"], ann)
            _blind(s, seg, users["bob"], bob)
            # the model: right on online_risk except segment 5, says family_risk everywhere
            for code, proba in (("online_risk", 0.9 if online ^ (n == 5) else 0.1), ("family_risk", 0.7)):
                s.add(
                    Suggestion(
                        segment_id=seg_id, code_key=code, probability=proba, decision="review", model_version="m1"
                    )
                )
        # carl started a blind item but has not finished it: his rows must not count
        _blind(s, s.get(Segment, ids[0]), users["carl"], ["referral"], done=False)
    return {"url": db_url, "segments": ids, "batches": [b.id for b in batches]}


@pytest.fixture
def project_db(db_url: str, codebook):  # type: ignore[no-untyped-def]
    return seed_agreement_project(db_url, codebook)


def test_blind_decisions_imply_negatives(project_db, codebook) -> None:  # type: ignore[no-untyped-def]
    with session_scope(project_db["url"]) as s:
        decisions = blind_decisions(s, codebook.code_ids)
    assert {d.coder for d in decisions} == {"ann", "bob"}  # carl's unfinished item is ignored
    assert len(decisions) == 12 * 2 * 3
    seg1 = str(project_db["segments"][1])
    got = {(d.coder, d.code): d.value for d in decisions if d.unit_id == seg1}
    assert got[("ann", "family_risk")] == 0 and got[("bob", "family_risk")] == 1
    assert got[("ann", "referral")] == 0 and got[("bob", "referral")] == 0


def test_human_human_report(project_db, codebook) -> None:  # type: ignore[no-untyped-def]
    with session_scope(project_db["url"]) as s:
        records = db_report(s, "human_human", codebook, ReportOptions(n_boot=100))
    by = {(r.scope, r.key): r for r in records}
    online = by[("code", "online_risk")]
    assert online.n_units == 12 and online.estimates["percent_agreement"].value == pytest.approx(11 / 12)
    assert by[("code", "family_risk")].estimates["percent_agreement"].value == pytest.approx(9 / 12)
    referral = by[("code", "referral")]
    assert referral.estimates["krippendorff_alpha"].value is None
    assert "same category" in (referral.estimates["krippendorff_alpha"].reason or "")
    assert by[("theme", "risk")].n_units == 24
    with session_scope(project_db["url"]) as s:
        batch2 = db_report(s, "human_human", codebook, ReportOptions(n_boot=0), batch_id=project_db["batches"][1])
    assert {(r.scope, r.key): r for r in batch2}[("code", "online_risk")].n_units == 6


def test_human_model(project_db, codebook) -> None:  # type: ignore[no-untyped-def]
    with session_scope(project_db["url"]) as s:
        model = model_decisions(s, codebook.code_ids)
        pairs = human_model_pairs(s, codebook.code_ids)
        records = db_report(s, "human_model", codebook, ReportOptions(n_boot=0))
    seg5 = project_db["segments"][5]
    assert model[seg5] == {"online_risk": 1, "family_risk": 1, "referral": 0}
    assert {d.coder for d in pairs} == {"model", "human"}
    by = {(r.scope, r.key): r for r in records}
    # online_risk: model wrong on segment 5 for both coders, bob also differs on segment 3 -> 21/24
    assert by[("code", "online_risk")].estimates["percent_agreement"].value == pytest.approx(21 / 24)
    assert by[("code", "online_risk")].n_units == 24
    ann = by[("pair", "online_risk:model|ann")]
    assert ann.coders == ("model", "ann") and ann.estimates["percent_agreement"].value == pytest.approx(11 / 12)
    assert ann.estimates["cohen_kappa"].value is not None


def test_model_yes_uses_the_cards_decision_cut_off(project_db, codebook) -> None:  # type: ignore[no-untyped-def]
    """A trained code's yes/no is its model card's decision threshold; anything else falls back to 0.5."""
    from pipeline.store.models import ModelVersion

    with session_scope(project_db["url"]) as s:
        s.add(
            ModelVersion(
                version="m1",
                path="/nonexistent/synthetic-m1",
                embedding_model="synthetic",
                card={
                    "codes": {
                        "family_risk": {"mode": "model", "thresholds": {"decision": 0.75}},
                        "online_risk": {"mode": "cold_start", "thresholds": {"decision": 0.95}},
                    }
                },
                stale_codes=[],
                is_active=True,
            )
        )
    with session_scope(project_db["url"]) as s:
        model = model_decisions(s, codebook.code_ids)
    seg0, seg5 = project_db["segments"][0], project_db["segments"][5]
    # family_risk scored 0.7 everywhere: below this model's cut-off of 0.75, so "no" (it was "yes" at 0.5).
    assert all(codes["family_risk"] == 0 for codes in model.values())
    # online_risk is cold start in the card: its 0.95 is ignored and 0.5 applies.
    assert model[seg0]["online_risk"] == 1 and model[seg5]["online_risk"] == 1


def test_disagreements_and_adjudication(project_db, codebook) -> None:  # type: ignore[no-untyped-def]
    segs = project_db["segments"]
    with session_scope(project_db["url"]) as s:
        found = list_disagreements(s, codebook)
        risk_only = list_disagreements(s, codebook, theme="risk", code="family_risk")
        assert list_disagreements(s, codebook, theme="practice") == []
    assert [(d.segment_id, d.code) for d in found] == sorted(
        [(segs[3], "online_risk"), (segs[1], "family_risk"), (segs[7], "family_risk"), (segs[8], "family_risk")]
    )
    assert [d.segment_id for d in risk_only] == [segs[1], segs[7], segs[8]]
    assert found[0].decisions.keys() == {"ann", "bob"} and found[0].theme == "risk"

    with session_scope(project_db["url"]) as s:
        row = adjudicate(s, segs[1], "family_risk", True, "lena", note="synthetic note", known_codes=CODES)
        assert row.source == "adjudication" and row.coder == "lena"
    with session_scope(project_db["url"]) as s:
        adjudicate(s, segs[1], "family_risk", False, "lena")  # changes mind: same row, new version
    with session_scope(project_db["url"]) as s:
        rows = s.scalars(select(Coding).where(Coding.source == "adjudication")).all()
        assert len(rows) == 1 and rows[0].applied is False and rows[0].version == 1
        audits = s.scalars(select(AuditLog).where(AuditLog.action == "agreement.adjudicate")).all()
        assert len(audits) == 2
        assert audits[0].details["blind_decisions"] == {"bob": True}
        assert "synthetic note" not in json.dumps(audits[0].details)
        remaining = list_disagreements(s, codebook)
        assert (segs[1], "family_risk") not in {(d.segment_id, d.code) for d in remaining}
        resolved = list_disagreements(s, codebook, include_resolved=True)
        (done,) = [d for d in resolved if d.resolved]
        assert done.resolution is not None and done.resolution.by == "lena" and done.resolution.applied is False


def test_adjudication_refusals(project_db) -> None:  # type: ignore[no-untyped-def]
    seg = project_db["segments"][1]
    with session_scope(project_db["url"]) as s:
        with pytest.raises(PermissionDenied, match="ann"):
            adjudicate(s, seg, "family_risk", True, "ann")
        with pytest.raises(PermissionDenied, match="nobody"):
            adjudicate(s, seg, "family_risk", True, "nobody")
        with pytest.raises(ReviewError, match="does not exist"):
            adjudicate(s, 987654, "family_risk", True, "lena")
        with pytest.raises(ReviewError, match="not in the active codebook"):
            adjudicate(s, seg, "made_up", True, "lena", known_codes=CODES)


def test_snapshots_flag_thresholds_and_model_drop(project_db, codebook, caplog) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    with session_scope(project_db["url"]) as s:
        flags = snapshot_agreement(
            s, settings, batch_id=project_db["batches"][1], codebook=codebook, now=dt.datetime(2026, 2, 1)
        )
    kinds = {(f.comparison, f.key, f.kind) for f in flags}
    # people split on family_risk (risk alpha 0.674: tentative); the model always says yes to it
    assert ("human_human", "risk", "below_reliable") in kinds
    assert ("human_model", "risk", "below_tentative") in kinds
    assert not any(f.kind == "model_drop" for f in flags)

    # the model gets worse on online_risk: a second snapshot flags the drop
    with session_scope(project_db["url"]) as s:
        for sug in s.scalars(select(Suggestion).where(Suggestion.code_key == "online_risk")):
            sug.probability = 1.0 - sug.probability
    with caplog.at_level(logging.WARNING, logger="pipeline.agreement.snapshots"), session_scope(project_db["url"]) as s:
        flags = snapshot_agreement(s, settings, codebook=codebook, now=dt.datetime(2026, 2, 2))
    drops = [f for f in flags if f.kind == "model_drop"]
    assert {(f.scope, f.key) for f in drops} >= {("theme", "risk"), ("overall", "all")}
    assert all(f.previous is not None and f.previous - f.value > settings.agreement_drop_alert for f in drops)
    assert "agreement alert" in caplog.text and "fell from" in caplog.text

    with session_scope(project_db["url"]) as s:
        series = history(s, "human_model", "theme")
        assert [p.at for p in series["risk"]] == [dt.datetime(2026, 2, 1), dt.datetime(2026, 2, 2)]
        assert series["risk"][1].value < series["risk"][0].value  # type: ignore[operator]
        stored = s.scalars(select(AgreementSnapshot).where(AgreementSnapshot.scope == "code")).all()
        assert {r.key for r in stored} == set(CODES)
        referral = next(r for r in stored if r.key == "referral" and r.comparison == "human_human")
        assert referral.metrics["krippendorff_alpha"]["value"] is None
        assert referral.metrics["krippendorff_alpha"]["reason"]
        assert all(row.flagged and row.flag_reason for row in latest_flags(s))


def test_cli_from_db(project_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pipeline.codebook import dumps_codebook

    book = tmp_path / "codebook.yaml"
    book.write_text(dumps_codebook(codebook_from_data(SYNTHETIC_CODEBOOK)), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["agreement", "--from-db", "--codebook", str(book), "--bootstrap", "50", "--comparison", "human_model"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["meta"]["comparison"] == "human_model"
    result = CliRunner().invoke(app, ["agreement", "--from-db", "--bootstrap", "20", "--snapshot", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "snapshot stored" in result.stderr and "alert: [human_human] theme risk" in result.stderr
    with session_scope(project_db["url"]) as s:  # the stored codebook was used (themes present)
        assert s.scalar(select(AgreementSnapshot).where(AgreementSnapshot.scope == "theme")) is not None
    assert ("theme", "risk") in {(r["scope"], r["key"]) for r in payload["records"]}


def test_an_adjudication_is_the_training_label(project_db) -> None:  # type: ignore[no-untyped-def]
    """The trainer reads Coding rows; a lead's resolution must override the coders' votes there."""
    from pipeline.suggest.labels import resolve_labels
    from pipeline.suggest.service import human_decisions

    seg = project_db["segments"][1]
    with session_scope(project_db["url"]) as s:
        before = resolve_labels(human_decisions(s, CODES)).get((seg, "family_risk"))
        adjudicate(s, seg, "family_risk", before != 1, "lena", known_codes=CODES)
    with session_scope(project_db["url"]) as s:
        after = resolve_labels(human_decisions(s, CODES))
    assert after[(seg, "family_risk")] == int(before != 1)


def test_a_double_submitted_adjudication_is_stored_once(project_db) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: the same lead's second request inserts while the first is uncommitted; it must update
    that row (version 1) instead of failing on the unique key."""
    import threading
    import time

    if not project_db["url"].startswith("postgresql"):
        pytest.skip("SQLite callers hold BEGIN IMMEDIATE, so the two requests cannot interleave there")
    seg = project_db["segments"][1]
    errors: list[BaseException] = []
    with session_scope(project_db["url"]) as first:
        adjudicate(first, seg, "family_risk", True, "lena", known_codes=CODES)

        def second() -> None:
            try:
                with session_scope(project_db["url"]) as s:
                    adjudicate(s, seg, "family_risk", True, "lena", known_codes=CODES)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second insert now waits on the first one's unique-key entry
    thread.join(timeout=30)
    assert errors == []
    with session_scope(project_db["url"]) as s:
        rows = s.scalars(select(Coding).where(Coding.source == "adjudication")).all()
        audits = s.scalars(select(AuditLog).where(AuditLog.action == "agreement.adjudicate")).all()
    assert [(r.segment_id, r.version, r.applied) for r in rows] == [(seg, 1, True)]
    assert [a.details["version"] for a in audits] == [0, 1]
