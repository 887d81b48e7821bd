"""Twenty simulated coders (threads) work one queue on SQLite and on PostgreSQL.

Checks: no item is ever held by two coders at once, every decision that was reported as saved is stored
exactly once, and nothing is decided twice, including when some coders abandon items (their leases expire
and others finish the work) or submit after their lease was taken over. All data is SYNTHETIC.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from pipeline.errors import ConflictError
from pipeline.review.decisions import decide_review
from pipeline.review.queue import ActingUser, enqueue_suggestions, lease_next
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Coding, ReviewItem, utcnow
from tests.e2e.seed import fast_password_hashing, seed_all

N_CODERS = 20
LEASE_SECONDS = 1


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_password_hashing(monkeypatch)



def test_twenty_coders_no_double_assignment_no_lost_decision(db_url: str) -> None:
    with session_scope(db_url) as db:
        seeded = seed_all(db, coders=N_CODERS, leads=0, transcripts=8, answers=10, prior=0, group_every=0)
    with session_scope(db_url) as db:
        n_items = enqueue_suggestions(db)
    assert n_items == len(seeded.suggestions) == 80
    settings = get_settings().model_copy(update={"lease_seconds": LEASE_SECONDS})

    lock = threading.Lock()
    holders: dict[int, tuple[int, dt.datetime]] = {}  # item -> (coder, lease expiry) while held
    overlaps: list[tuple[int, int, int]] = []
    saved: list[tuple[int, int]] = []  # (item, coder) for every decision reported as stored
    conflicts: list[int] = []
    abandoned: list[tuple[int, int]] = []  # (item, coder who walked away from it)
    errors: list[BaseException] = []
    deadline = time.monotonic() + 120
    start = threading.Barrier(N_CODERS)

    def coder(index: int, name: str, user_id: int) -> None:
        me = ActingUser(user_id=user_id, username=name)
        step = 0
        leased_count = 0
        start.wait()
        try:
            while time.monotonic() < deadline:
                step += 1
                with session_scope(db_url, immediate=True) as db:
                    item = lease_next(db, me, settings)
                    claimed = None if item is None else (item.id, item.version, item.lease_expires_at)
                if claimed is None:
                    with session_scope(db_url) as db:
                        left = db.scalar(
                            select(func.count()).select_from(ReviewItem).where(ReviewItem.status != "done")
                        )
                    if not left:
                        return
                    time.sleep(0.1)
                    continue
                item_id, version, expires = claimed
                leased_count += 1
                now = utcnow()
                with lock:
                    other = holders.get(item_id)
                    if other is not None and other[0] != user_id and other[1] > now:
                        overlaps.append((item_id, other[0], user_id))
                    holders[item_id] = (user_id, expires)
                # The first five coders to get an item close their browser: the lease must expire and
                # someone else must finish it. Four others dawdle past the lease now and then.
                if leased_count == 1:
                    with lock:
                        walk_away = len(abandoned) < 5
                        if walk_away:
                            abandoned.append((item_id, user_id))
                    if walk_away:
                        return
                if index % 5 == 1 and step % 3 == 0:
                    time.sleep(LEASE_SECONDS + 0.3)
                try:
                    with session_scope(db_url, immediate=True) as db:
                        decide_review(db, item_id, version, me, "accept" if step % 2 else "reject")
                except ConflictError:
                    with lock:
                        conflicts.append(item_id)
                    continue
                with lock:
                    saved.append((item_id, user_id))
                    if holders.get(item_id, (None,))[0] == user_id:
                        del holders[item_id]
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=coder, args=(i, name, uid), name=f"coder-{i}")
        for i, (name, uid) in enumerate(sorted(seeded.coders.items()))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    assert overlaps == []
    per_item = Counter(item for item, _ in saved)
    assert len(per_item) == n_items, "every item was decided"
    assert set(per_item.values()) == {1}, "no item was decided twice"
    with session_scope(db_url) as db:
        items = db.execute(select(ReviewItem.id, ReviewItem.status, ReviewItem.lease_owner)).all()
        codings = db.execute(select(Coding.review_item_id, Coding.user_id)).all()
        decisions = db.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action.in_(("review.accept", "review.reject")))
        )
    assert {status for _, status, _ in items} == {"done"}
    # Stored decisions are exactly the ones reported as saved: none lost, none extra, right coder.
    assert sorted(codings) == sorted(saved)
    assert {item_id: owner for item_id, _, owner in items} == dict(saved)
    assert decisions == n_items
    # Abandoned leases expired and were finished by someone else; refused late submissions were not lost.
    assert len(abandoned) == 5
    for item_id, walked_away in abandoned:
        assert dict(saved)[item_id] != walked_away
    for item_id in conflicts:
        assert item_id in per_item
