"""The review queue library on SQLite and PostgreSQL: enqueueing, leases, decisions, undo, bulk accept and
the blind sample. All data is SYNTHETIC (tests/e2e/seed.py)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from pipeline.errors import ConflictError, ReviewError
from pipeline.review.blind import assign_blind_sample
from pipeline.review.catalogue import load_catalogue
from pipeline.review.context import build_item_view
from pipeline.review.decisions import bulk_accept, decide_review, skip, submit_blind, undo_last
from pipeline.review.queue import ActingUser, enqueue_suggestions, lease_next, queue_stats
from pipeline.settings import Settings, get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Coding, ReviewItem, Suggestion, utcnow
from tests.e2e.seed import EMBEDDING_IDENTITY, Seeded, fast_password_hashing, seed_all


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_password_hashing(monkeypatch)



@pytest.fixture
def seeded(db_url: str) -> Seeded:
    with session_scope(db_url) as db:
        out = seed_all(db, coders=3, leads=1)
    with session_scope(db_url) as db:
        enqueue_suggestions(db)
    return out


def _coder(seeded: Seeded, name: str) -> ActingUser:
    return ActingUser(user_id=seeded.coders[name], username=name)


def _lease(url: str, who: ActingUser, settings: Settings | None = None, now: dt.datetime | None = None):
    with session_scope(url, immediate=True) as db:
        item = lease_next(db, who, settings or get_settings(), now=now)
        return None if item is None else (item.id, item.version, item.kind)


def test_enqueue_is_idempotent(db_url: str, seeded: Seeded) -> None:
    with session_scope(db_url) as db:
        assert enqueue_suggestions(db) == 0
        items = db.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.kind == "review"))
    assert items == len(seeded.suggestions)


def test_two_coders_never_hold_the_same_item_and_expired_leases_return(db_url: str, seeded: Seeded) -> None:
    a, b = _coder(seeded, "coder1"), _coder(seeded, "coder2")
    first = _lease(db_url, a)
    second = _lease(db_url, b)
    assert first and second and first[0] != second[0]
    # Asking again returns the lease you already hold (a page reload keeps your place).
    assert _lease(db_url, a) == first
    # Once a's lease has expired, the item goes back to the queue; with the highest priority it is next.
    later = utcnow() + dt.timedelta(seconds=get_settings().lease_seconds + 5)
    third = _lease(db_url, _coder(seeded, "coder3"), now=later)
    assert third is not None and third[0] == first[0]
    with pytest.raises(ConflictError, match="lease"), session_scope(db_url, immediate=True) as db:
        decide_review(db, first[0], first[1], a, "accept")


def test_accept_writes_coding_status_and_audit_and_cannot_apply_twice(db_url: str, seeded: Seeded) -> None:
    a = _coder(seeded, "coder1")
    item_id, version, _kind = _lease(db_url, a)
    with session_scope(db_url, immediate=True) as db:
        result = decide_review(db, item_id, version, a, "accept", note="fits the definition", certainty=4)
    assert result.item_ids == (item_id,)
    with pytest.raises(ConflictError, match="already decided"), session_scope(db_url, immediate=True) as db:
        decide_review(db, item_id, version, a, "accept")
    with session_scope(db_url) as db:
        item = db.get(ReviewItem, item_id)
        suggestion = db.get(Suggestion, item.suggestion_id)
        codings = db.scalars(select(Coding).where(Coding.review_item_id == item_id)).all()
        audit_rows = db.scalars(select(AuditLog).where(AuditLog.action == "review.accept")).all()
    assert item.status == "done" and suggestion.status == "accepted"
    assert len(codings) == 1
    coding = codings[0]
    assert (coding.code_key, coding.applied, coding.source, coding.coder) == (suggestion.code_key, True, "review",
                                                                              "coder1")
    assert (coding.suggestion_id, coding.model_version, coding.certainty) == (suggestion.id, "synthetic-model-1", 4)
    assert coding.note == "fits the definition"
    assert len(audit_rows) == 1
    details = audit_rows[0].details
    assert audit_rows[0].actor == "coder1" and details["suggestion_id"] == suggestion.id
    assert details["model_version"] == "synthetic-model-1" and details["has_note"] is True
    assert "fits the definition" not in str(details)


def test_reject_and_recode(db_url: str, seeded: Seeded) -> None:
    a = _coder(seeded, "coder1")
    item_id, version, _ = _lease(db_url, a)
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, item_id, version, a, "reject")
    item2, version2, _ = _lease(db_url, a)
    with pytest.raises(ReviewError, match="unknown code"), session_scope(db_url, immediate=True) as db:
        decide_review(db, item2, version2, a, "recode", codes=["no_such_code"], known_codes={"training_gap"})
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, item2, version2, a, "recode", codes=["training_gap"], known_codes={"training_gap"})
    with session_scope(db_url) as db:
        rows = db.execute(
            select(Coding.review_item_id, Coding.code_key, Coding.applied, Coding.source)
            .where(Coding.coder == "coder1")
            .order_by(Coding.id)
        ).all()
        statuses = [db.get(Suggestion, db.get(ReviewItem, i).suggestion_id).status for i in (item_id, item2)]
    assert statuses == ["rejected", "rejected"]
    assert [(r[2], r[3]) for r in rows] == [(False, "review"), (False, "review"), (True, "manual")]
    assert rows[2][1] == "training_gap"


def test_skip_puts_item_after_open_ones(db_url: str, seeded: Seeded) -> None:
    a = _coder(seeded, "coder1")
    item_id, version, _ = _lease(db_url, a)
    with session_scope(db_url, immediate=True) as db:
        skip(db, item_id, version, a)
    nxt = _lease(db_url, a)
    assert nxt is not None and nxt[0] != item_id


def test_undo_restores_the_last_decision(db_url: str, seeded: Seeded) -> None:
    a = _coder(seeded, "coder1")
    item_id, version, _ = _lease(db_url, a)
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, item_id, version, a, "accept")
    _lease(db_url, a)  # the next item is on screen when the coder presses undo
    with session_scope(db_url, immediate=True) as db:
        result = undo_last(db, a, get_settings())
    assert result.item_ids == (item_id,)
    with session_scope(db_url) as db:
        item = db.get(ReviewItem, item_id)
        assert item.status == "leased" and item.lease_owner == a.user_id
        assert db.get(Suggestion, item.suggestion_id).status == "queued"
        assert db.scalar(select(func.count()).select_from(Coding).where(Coding.review_item_id == item_id)) == 0
    # The undone item is shown first, and can be decided again.
    again = _lease(db_url, a)
    assert again[0] == item_id
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, item_id, again[1], a, "reject")
    with pytest.raises(ReviewError, match="nothing to undo"), session_scope(db_url, immediate=True) as db:
        undo_last(db, _coder(seeded, "coder2"), get_settings())


def test_bulk_accept_decides_the_near_duplicate_group(db_url: str, seeded: Seeded) -> None:
    a = _coder(seeded, "coder1")
    item_id, version, _ = _lease(db_url, a)
    with session_scope(db_url) as db:
        group = db.get(ReviewItem, item_id).group_key
        members = db.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.group_key == group))
    assert members > 1
    with session_scope(db_url, immediate=True) as db:
        result = bulk_accept(db, item_id, version, a, certainty=5)
    assert len(result.item_ids) == members
    with session_scope(db_url) as db:
        statuses = db.scalars(
            select(Suggestion.status).join(ReviewItem, ReviewItem.suggestion_id == Suggestion.id)
            .where(ReviewItem.group_key == group)
        ).all()
    assert set(statuses) == {"accepted"}
    with session_scope(db_url, immediate=True) as db:
        assert len(undo_last(db, a, get_settings()).item_ids) == members


def test_blind_sample_is_stratified_idempotent_and_double_coded(db_url: str, seeded: Seeded) -> None:
    settings = get_settings()
    with session_scope(db_url) as db:
        added = assign_blind_sample(db, settings)
    total = len(seeded.segments)
    assert added == round(settings.blind_share * total)
    with session_scope(db_url) as db:
        assert assign_blind_sample(db, settings) == 0
        rows = db.execute(select(ReviewItem.segment_id, ReviewItem.assigned_to).where(ReviewItem.kind == "blind")).all()
    per_segment = Counter(seg for seg, _ in rows)
    assert set(per_segment.values()) == {2}
    for segment_id in per_segment:
        coders = {who for seg, who in rows if seg == segment_id}
        assert len(coders) == 2
    # Load is balanced across the three coders.
    load = Counter(who for _, who in rows)
    assert max(load.values()) - min(load.values()) <= 1
    # A higher share tops the sample up without touching what is there.
    with session_scope(db_url) as db:
        more = assign_blind_sample(db, settings.model_copy(update={"blind_share": 0.5}))
    assert more == round(0.5 * total) - added


def test_blind_items_hide_suggestions_and_block_reviews_of_the_same_segment(db_url: str, seeded: Seeded) -> None:
    settings = get_settings().model_copy(update={"blind_share": 1.0})
    with session_scope(db_url) as db:
        assign_blind_sample(db, settings)
    a = _coder(seeded, "coder1")
    # Every segment is blind-assigned to two of three coders; coder1 gets only blind work or reviews of
    # segments it is not blind-coding.
    blind_segments: set[int] = set()
    with session_scope(db_url) as db:
        blind_segments = set(db.scalars(select(ReviewItem.segment_id).where(
            ReviewItem.kind == "blind", ReviewItem.assigned_to == a.user_id)))
    for _ in range(6):
        item_id, version, kind = _lease(db_url, a)
        with session_scope(db_url) as db:
            item = db.get(ReviewItem, item_id)
            if kind == "review":
                assert item.segment_id not in blind_segments
            else:
                view = build_item_view(db, item, load_catalogue(db, None), embedding_identity=EMBEDDING_IDENTITY)
                assert view.suggestion is None and view.also_suggested == ()
        with session_scope(db_url, immediate=True) as db:
            if kind == "blind":
                submit_blind(db, item_id, version, a, ["referral_route"], ["training_gap"], certainty=3)
                blind_segments.discard(item.segment_id)
            else:
                decide_review(db, item_id, version, a, "accept")
    with session_scope(db_url) as db:
        blind_rows = db.execute(select(Coding.code_key, Coding.applied).where(Coding.source == "blind")).all()
    assert set(blind_rows) <= {("referral_route", True), ("training_gap", False)}


def test_coder_cannot_decide_another_coders_blind_item(db_url: str, seeded: Seeded) -> None:
    with session_scope(db_url) as db:
        assign_blind_sample(db, get_settings().model_copy(update={"blind_share": 1.0}))
        item = db.scalar(select(ReviewItem).where(ReviewItem.kind == "blind",
                                                  ReviewItem.assigned_to == seeded.coders["coder1"]))
        item_id = item.id
    a, b = _coder(seeded, "coder1"), _coder(seeded, "coder2")
    with session_scope(db_url, immediate=True) as db:
        item = db.get(ReviewItem, item_id)
        item.status, item.lease_owner, item.version = "leased", a.user_id, 1
        item.lease_expires_at = utcnow() + dt.timedelta(minutes=5)
    with pytest.raises(ConflictError), session_scope(db_url, immediate=True) as db:
        submit_blind(db, item_id, 1, b, ["referral_route"])


def test_queue_stats_and_item_view(db_url: str, seeded: Seeded) -> None:
    a = _coder(seeded, "coder1")
    with session_scope(db_url) as db:
        before = queue_stats(db, a)
    assert before.available == len(seeded.suggestions) and before.done_today == 0
    item_id, version, _ = _lease(db_url, a)
    with session_scope(db_url) as db:
        view = build_item_view(db, db.get(ReviewItem, item_id), load_catalogue(db, None),
                               embedding_identity=EMBEDDING_IDENTITY)
    current = [t for t in view.turns if t.is_current]
    assert len(current) == 1 and current[0].segment and current[0].role == "participant"
    assert [t.role for t in view.turns] == ["interviewer", "participant", "interviewer"]
    assert view.suggestion is not None and view.suggestion.code.known and view.suggestion.code.definition
    assert view.site_code and view.interview_date
    # The prior (imported) codings give similar segments for codes they carry.
    assert all(0.3 <= s.score <= 1.0 for s in view.suggestion.similar)  # weak matches are no reason
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, item_id, version, a, "accept")
    with session_scope(db_url) as db:
        after = queue_stats(db, a)
    assert after.done_today == 1 and after.available == before.available - 1


def test_heartbeat_keeps_the_lease_and_logout_hands_items_back(db_url: str, seeded: Seeded) -> None:
    from pipeline.review.queue import release_all, renew_lease

    settings = get_settings()
    a, b = _coder(seeded, "coder1"), _coder(seeded, "coder2")
    item_id, version, _ = _lease(db_url, a)
    later = utcnow() + dt.timedelta(seconds=settings.lease_seconds - 5)
    with session_scope(db_url, immediate=True) as db:
        assert renew_lease(db, item_id, a, settings, now=later) is True
        assert renew_lease(db, item_id, b, settings) is False
    # Past the original expiry, but within the renewed one: nobody else gets it.
    almost = later + dt.timedelta(seconds=settings.lease_seconds - 5)
    other = _lease(db_url, b, now=almost)
    assert other is not None and other[0] != item_id
    with session_scope(db_url, immediate=True) as db:
        assert release_all(db, a) == 1
        assert db.get(ReviewItem, item_id).status == "open"
    # The renewal did not invalidate the coder's form, but the release did.
    with pytest.raises(ConflictError), session_scope(db_url, immediate=True) as db:
        decide_review(db, item_id, version, a, "accept")


def test_the_decided_segments_other_suggestions_come_next(db_url: str) -> None:
    with session_scope(db_url) as db:
        seeded = seed_all(db, coders=1, leads=0, transcripts=2, answers=6, prior=0, group_every=0)
    with session_scope(db_url) as db:
        # A second, low-priority suggestion on the first segment.
        first_segment = seeded.segments[0]
        db.add(Suggestion(segment_id=first_segment, code_key="joint_meeting", probability=0.5, decision="review",
                          model_version="synthetic-model-1", status="queued", priority=-100.0))
        enqueue_suggestions(db)
    a = _coder(seeded, "coder1")
    item_id, version, _ = _lease(db_url, a)
    with session_scope(db_url, immediate=True) as db:
        assert db.get(ReviewItem, item_id).segment_id == first_segment
        decide_review(db, item_id, version, a, "accept")
    with session_scope(db_url, immediate=True) as db:
        plain = lease_next(db, a, get_settings(), prefer_segment=None)
        assert plain.segment_id != first_segment  # by priority alone it would come last
        db.rollback()
    with session_scope(db_url, immediate=True) as db:
        nxt = lease_next(db, a, get_settings(), prefer_segment=first_segment)
        assert nxt.segment_id == first_segment


def test_a_lead_double_codes_when_there_is_only_one_coder(db_url: str) -> None:
    with session_scope(db_url) as db:
        seeded = seed_all(db, coders=1, leads=1, transcripts=2, answers=5, prior=0)
    with session_scope(db_url) as db:
        added = assign_blind_sample(db, get_settings())
        assigned = set(db.scalars(select(ReviewItem.assigned_to).where(ReviewItem.kind == "blind")))
    assert added == round(get_settings().blind_share * len(seeded.segments))
    assert assigned == {seeded.coders["coder1"], seeded.leads["lead1"]}


def test_undo_keeps_an_earlier_decision_with_the_same_verdict(db_url: str) -> None:
    with session_scope(db_url) as db:
        seeded = seed_all(db, coders=1, leads=0, transcripts=1, answers=3, prior=0, group_every=0)
        segment = seeded.segments[0]
        db.add(Suggestion(segment_id=segment, code_key="joint_meeting", probability=0.5, decision="review",
                          model_version="synthetic-model-1", status="queued", priority=-1.0))
    with session_scope(db_url) as db:
        enqueue_suggestions(db)
    a = _coder(seeded, "coder1")
    first_id, version, _ = _lease(db_url, a)
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, first_id, version, a, "recode", codes=["training_gap"])
    with session_scope(db_url, immediate=True) as db:
        second = lease_next(db, a, get_settings(), prefer_segment=segment)
        second_id, second_version = second.id, second.version
        assert second.segment_id == segment
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, second_id, second_version, a, "recode", codes=["training_gap"])
    with session_scope(db_url, immediate=True) as db:
        assert undo_last(db, a, get_settings()).item_ids == (second_id,)
    with session_scope(db_url) as db:
        manual = db.scalars(select(Coding).where(Coding.source == "manual")).all()
    assert [(c.code_key, c.applied, c.review_item_id) for c in manual] == [("training_gap", True, first_id)]


def test_items_of_superseded_suggestions_are_withdrawn(db_url: str, seeded: Seeded) -> None:
    a = _coder(seeded, "coder1")
    with session_scope(db_url) as db:
        before = queue_stats(db, a).available
        first = db.scalar(select(ReviewItem).where(ReviewItem.kind == "review").order_by(ReviewItem.priority.desc()))
        db.get(Suggestion, first.suggestion_id).status = "superseded"
        first_id = first.id
    with session_scope(db_url) as db:
        assert enqueue_suggestions(db) == 0
        assert db.get(ReviewItem, first_id).status == "withdrawn"
        assert queue_stats(db, a).available == before - 1
    nxt = _lease(db_url, a)
    assert nxt is not None and nxt[0] != first_id


def test_blind_sample_is_proportional_per_theme_and_transcript(db_url: str) -> None:
    from pipeline.store.models import Segment

    with session_scope(db_url) as db:
        seed_all(db, coders=2, leads=0, transcripts=4, answers=12, prior=0, group_every=2)
    settings = get_settings().model_copy(update={"blind_share": 0.25})
    with session_scope(db_url) as db:
        assign_blind_sample(db, settings)
        sampled = set(db.scalars(select(ReviewItem.segment_id).where(ReviewItem.kind == "blind")))
        rows = db.execute(
            select(Segment.id, Segment.transcript_id, Suggestion.code_key)
            .join(Suggestion, Suggestion.segment_id == Segment.id)
        ).all()
        catalogue = load_catalogue(db, None)
    by_transcript: Counter[int] = Counter()
    by_theme: Counter[str] = Counter()
    size_transcript: Counter[int] = Counter()
    size_theme: Counter[str] = Counter()
    for segment_id, transcript_id, code in rows:
        theme = catalogue.theme_of(code)
        size_transcript[transcript_id] += 1
        size_theme[theme] += 1
        if segment_id in sampled:
            by_transcript[transcript_id] += 1
            by_theme[theme] += 1
    assert len(sampled) == 12
    for transcript_id, n in size_transcript.items():
        assert abs(by_transcript[transcript_id] - 0.25 * n) <= 1, (transcript_id, by_transcript, size_transcript)
    for theme, n in size_theme.items():
        assert abs(by_theme[theme] - 0.25 * n) <= 1.5, (theme, by_theme, size_theme)


def test_a_heartbeat_racing_a_takeover_reports_the_lease_lost(db_url: str, seeded: Seeded) -> None:
    """PostgreSQL: coder2 takes coder1's expired lease while coder1's heartbeat is in flight. The heartbeat
    waits for the takeover to commit and must then say "lost", not extend coder2's new lease."""
    import threading
    import time

    from sqlalchemy import update

    from pipeline.review.queue import renew_lease

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE), so the race cannot happen there")
    settings = get_settings()
    a, b = _coder(seeded, "coder1"), _coder(seeded, "coder2")
    item_id, _version, _ = _lease(db_url, a)
    takeover_expiry = utcnow() + dt.timedelta(hours=1)
    outcome: list[bool] = []
    with session_scope(db_url) as db_b:
        db_b.execute(update(ReviewItem).where(ReviewItem.id == item_id)
                     .values(lease_owner=b.user_id, lease_expires_at=takeover_expiry, version=ReviewItem.version + 1))

        def heartbeat() -> None:
            with session_scope(db_url) as db_a:
                outcome.append(renew_lease(db_a, item_id, a, settings))

        thread = threading.Thread(target=heartbeat)
        thread.start()
        time.sleep(0.5)  # the heartbeat now waits on the row lock the takeover holds
    thread.join(timeout=30)
    assert outcome == [False]
    with session_scope(db_url) as db:
        item = db.get(ReviewItem, item_id)
        assert item.lease_owner == b.user_id and item.lease_expires_at == takeover_expiry


def test_two_racing_undos_take_back_one_decision_once(db_url: str, seeded: Seeded) -> None:
    """PostgreSQL: a second "u" arriving while the first is being saved must not undo the decision again."""
    import threading
    import time

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE), so the race cannot happen there")
    settings = get_settings()
    a = _coder(seeded, "coder1")
    item_id, version, _ = _lease(db_url, a)
    with session_scope(db_url, immediate=True) as db:
        decide_review(db, item_id, version, a, "accept")
    second: list[BaseException | str] = []
    with session_scope(db_url, immediate=True) as first:
        assert undo_last(first, a, settings).item_ids == (item_id,)

        def press_again() -> None:
            try:
                with session_scope(db_url, immediate=True) as db:
                    second.append(undo_last(db, a, settings).action)
            except ReviewError as exc:
                second.append(exc)

        thread = threading.Thread(target=press_again)
        thread.start()
        time.sleep(0.5)  # the second undo now waits on the first one's row lock
    thread.join(timeout=30)
    assert len(second) == 1 and isinstance(second[0], ReviewError) and "nothing to undo" in str(second[0])
    with session_scope(db_url) as db:
        undos = db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "review.undo"))
        assert undos == 1 and db.get(ReviewItem, item_id).status == "leased"
