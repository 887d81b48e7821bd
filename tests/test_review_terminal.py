"""``qualcode review`` in the terminal: keys piped on stdin or given with --keys drive the same decisions as
the web page. All data is SYNTHETIC."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.review.blind import assign_blind_sample
from pipeline.review.catalogue import Catalogue, CodeInfo
from pipeline.review.queue import enqueue_suggestions
from pipeline.review.terminal import StreamKeys, resolve_codes
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Coding, ReviewItem, Suggestion, User
from tests.e2e.seed import PASSWORD, Seeded, fast_password_hashing, seed_all


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_password_hashing(monkeypatch)


@pytest.fixture
def seeded(sqlite_url: str) -> Seeded:
    with session_scope(sqlite_url) as db:
        out = seed_all(db, coders=2, leads=1)
    with session_scope(sqlite_url) as db:
        enqueue_suggestions(db)
    return out


def test_keys_from_stdin_accept_reject_recode_note_certainty(sqlite_url: str, seeded: Seeded) -> None:
    # password line, then: accept with certainty 4; reject with a note; other code by search words; quit
    stdin = f"{PASSWORD}\n4a" + "nunsure about the speaker\nr" + "ctraining gap\n" + "q"
    result = CliRunner().invoke(app, ["review", "--user", "coder1", "--password-stdin"], input=stdin)
    assert result.exit_code == 0, result.output
    assert "decided 3, skipped 0, undone 0" in result.output
    with session_scope(sqlite_url) as db:
        rows = db.execute(
            select(Coding.code_key, Coding.applied, Coding.source, Coding.certainty, Coding.note)
            .where(Coding.coder == "coder1")
            .order_by(Coding.id)
        ).all()
        leased = db.scalars(select(ReviewItem).where(ReviewItem.status == "leased")).all()
        actions = db.scalars(select(AuditLog.action).where(AuditLog.actor == "coder1").order_by(AuditLog.id)).all()
    assert [(r.applied, r.source) for r in rows] == [(True, "review"), (False, "review"), (False, "review"),
                                                     (True, "manual")]
    assert rows[0].certainty == 4 and rows[1].note == "unsure about the speaker"
    assert rows[3].code_key == "training_gap"
    assert actions == ["review.accept", "review.reject", "review.recode"]
    assert leased == [], "quitting hands the current item back"


def test_keys_option_skip_and_undo(sqlite_url: str, seeded: Seeded) -> None:
    result = CliRunner().invoke(app, ["review", "--user", "coder1", "--password-stdin", "--keys", "asuaq"],
                                input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "decided 2, skipped 1, undone 1" in result.output
    with session_scope(sqlite_url) as db:
        accepted = db.scalars(select(Suggestion.id).where(Suggestion.status == "accepted")).all()
        done = db.scalars(select(ReviewItem.id).where(ReviewItem.status == "done")).all()
    assert len(accepted) == 1 and len(done) == 1


def test_blind_coding_in_the_terminal(sqlite_url: str, seeded: Seeded) -> None:
    with session_scope(sqlite_url) as db:
        assign_blind_sample(db, get_settings().model_copy(update={"blind_share": 1.0}))
        db.execute(ReviewItem.__table__.update().where(ReviewItem.kind == "blind").values(priority=1e6))
    keys = "l" + "creferral_route, -joint meeting\n2a" + "q"
    result = CliRunner().invoke(app, ["review", "--user", "coder2", "--password-stdin", "--keys", keys],
                                input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "BLIND CODING" in result.output and "Suggested code" not in result.output
    assert "threshold_judgement" in result.output, "l lists the codebook"
    with session_scope(sqlite_url) as db:
        rows = db.execute(select(Coding.code_key, Coding.applied, Coding.source, Coding.certainty)
                          .where(Coding.coder == "coder2")).all()
    assert sorted(rows) == [("joint_meeting", False, "blind", 2), ("referral_route", True, "blind", 2)]


def test_wrong_password_is_refused(seeded: Seeded) -> None:
    result = CliRunner().invoke(app, ["review", "--user", "coder1", "--password-stdin", "--keys", "a"],
                                input="not the password\n")
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception) and "invalid username or password" in str(result.exception)


def test_user_add_and_list(sqlite_url: str) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["user", "add", "lead7", "--role", "lead", "--key-holder", "--password-stdin"],
                          input="a-long-enough-password\n")
    assert added.exit_code == 0, added.output
    assert "created lead lead7 (key holder)" in added.output
    listed = runner.invoke(app, ["user", "list"])
    assert "lead7" in listed.output and "yes" in listed.output
    with session_scope(sqlite_url) as db:
        user = db.scalar(select(User).where(User.username == "lead7"))
        assert user is not None and user.is_key_holder and "a-long-enough-password" not in user.password_hash
    demo = runner.invoke(app, ["user", "demo"])
    assert demo.output.count("demo log-in:") == 2
    assert "already exist" in runner.invoke(app, ["user", "demo"]).output


def test_stream_keys_and_code_resolution() -> None:
    keys = StreamKeys("a\nb\ncnote text\n")
    assert [keys.key(), keys.key(), keys.key()] == ["a", "b", "c"]
    assert keys.line("> ") == "note text" and keys.key() is None
    catalogue = Catalogue([
        CodeInfo("referral_route", "Referral route", "referral", "Pathways and referral"),
        CodeInfo("joint_meeting", "Joint meeting", "multi_agency", "Multi-agency working"),
        CodeInfo("information_sharing", "Information sharing", "multi_agency", "Multi-agency working"),
    ])
    applied, ruled_out, unknown = resolve_codes("referral, -joint, multi-agency, nonsense", catalogue)
    assert applied == ["referral_route"] and ruled_out == ["joint_meeting"]
    assert unknown == ["multi-agency", "nonsense"]  # ambiguous and unknown terms are reported, not guessed


def test_user_set_password_and_unlock(sqlite_url: str, seeded: Seeded) -> None:
    from pipeline.review.accounts import resolve_session, start_session

    with session_scope(sqlite_url) as db:
        user = db.scalar(select(User).where(User.username == "coder1"))
        token, _ = start_session(db, user, get_settings())
        user.locked_until = user.created_at.replace(year=2999)
    runner = CliRunner()
    changed = runner.invoke(app, ["user", "set", "coder1", "--role", "lead", "--key-holder"])
    assert changed.exit_code == 0 and "role lead, key holder yes, active" in changed.output
    assert runner.invoke(app, ["user", "unlock", "coder1"]).exit_code == 0
    reset = runner.invoke(app, ["user", "password", "coder1", "--password-stdin"], input="another-long-password\n")
    assert reset.exit_code == 0, reset.output
    with session_scope(sqlite_url) as db:
        assert resolve_session(db, token) is None, "a new password ends existing sessions"
        user = db.scalar(select(User).where(User.username == "coder1"))
        assert user.locked_until is None and user.role == "lead" and user.is_key_holder
    deactivated = runner.invoke(app, ["user", "set", "coder1", "--inactive"])
    assert "inactive" in deactivated.output
    missing = runner.invoke(app, ["user", "set", "nobody", "--inactive"])
    assert missing.exit_code != 0 and "does not exist" in str(missing.exception)


def test_typed_code_search_is_not_read_as_markup(sqlite_url: str, seeded: Seeded) -> None:
    """``[/]`` typed into the code search used to end the session with a rich MarkupError."""
    stdin = f"{PASSWORD}\n" + "c[/] [inaudible]\n" + "sq"
    result = CliRunner().invoke(app, ["review", "--user", "coder1", "--password-stdin"], input=stdin)
    assert result.exit_code == 0, result.output
    assert "no single code matches: [/] [inaudible]" in result.output
    assert "decided 0, skipped 1, undone 0" in result.output


def test_a_coder_reading_longer_than_the_lease_keeps_the_item(sqlite_url: str, seeded: Seeded) -> None:
    """The terminal renews its lease while an item is on screen, as the web page does: another coder who
    asks for work after the lease would have expired gets a different item, and the slow decision lands."""
    import io
    import time

    from rich.console import Console

    from pipeline.review.queue import ActingUser, lease_next
    from pipeline.review.terminal import run_review

    settings = get_settings().model_copy(update={"lease_seconds": 2})
    coder1 = ActingUser(user_id=seeded.coders["coder1"], username="coder1")
    coder2 = ActingUser(user_id=seeded.coders["coder2"], username="coder2")
    other: list[int | None] = []

    class SlowReader:
        """Reads the first item for twice the lease, meanwhile coder2 asks for work; then accepts and quits."""

        def __init__(self) -> None:
            self.keys = iter("aq")
            self.first = True

        def key(self) -> str | None:
            if self.first:
                self.first = False
                time.sleep(settings.lease_seconds * 2)
                with session_scope(sqlite_url, immediate=True) as db:
                    item = lease_next(db, coder2, settings)
                    other.append(item.segment_id if item is not None else None)
            return next(self.keys, None)

        def line(self, prompt: str) -> str | None:
            return None

    summary = run_review(sqlite_url, settings, coder1, SlowReader(), Console(file=io.StringIO()))
    assert summary.decided == 1 and summary.conflicts == 0
    with session_scope(sqlite_url) as db:
        decided = db.scalars(select(Coding.segment_id).where(Coding.coder == "coder1")).all()
    assert decided and other and other[0] not in decided, "coder2 was handed the item coder1 was still reading"
