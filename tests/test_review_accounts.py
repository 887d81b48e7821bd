"""Accounts: Argon2 hashes, lock-out, server-side sessions and demo users (synthetic accounts only)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from pipeline.errors import AuthError, ConfigError
from pipeline.review.accounts import (
    MAX_FAILED_LOGINS,
    authenticate,
    create_demo_users,
    create_user,
    end_session,
    resolve_session,
    start_session,
    token_hash,
)
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, User, UserSession, utcnow

PASSWORD = "correct horse battery"


def test_password_is_stored_as_argon2_hash(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as db:
        user = create_user(db, "alice", PASSWORD, "coder")
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    with session_scope(sqlite_url) as db:
        assert authenticate(db, "ALICE ", PASSWORD).username == "alice"


@pytest.mark.parametrize(
    ("name", "password", "role", "fragment"),
    [
        ("Bad Name", PASSWORD, "coder", "username"),
        ("bob", "x7Qz", "coder", "too short"),
        ("bob", PASSWORD, "superuser", "role"),
    ],
)
def test_unusable_account_details_are_refused(sqlite_url: str, name: str, password: str, role: str,
                                              fragment: str) -> None:
    with session_scope(sqlite_url) as db, pytest.raises(ConfigError, match=fragment) as info:
        create_user(db, name, password, role)
    assert password not in str(info.value)  # messages never echo a password


def test_duplicate_username_is_refused(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as db:
        create_user(db, "alice", PASSWORD)
    with session_scope(sqlite_url) as db, pytest.raises(ConfigError, match="already exists"):
        create_user(db, "alice", PASSWORD)


def test_unknown_user_and_wrong_password_fail_alike(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as db:
        create_user(db, "alice", PASSWORD)
    with session_scope(sqlite_url) as db:
        with pytest.raises(AuthError) as unknown:
            authenticate(db, "mallory", PASSWORD)
        with pytest.raises(AuthError) as wrong:
            authenticate(db, "alice", "wrong password!")
    assert str(unknown.value) == str(wrong.value)


def test_repeated_failures_lock_the_account_even_for_the_right_password(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as db:
        create_user(db, "alice", PASSWORD)
    for _ in range(MAX_FAILED_LOGINS):
        with session_scope(sqlite_url) as db, pytest.raises(AuthError):
            authenticate(db, "alice", "wrong password!")
    with session_scope(sqlite_url) as db:
        with pytest.raises(AuthError, match="locked") as locked:
            authenticate(db, "alice", PASSWORD)
        with pytest.raises(AuthError) as unknown:
            authenticate(db, "mallory", PASSWORD)
        # A locked account answers exactly like an unknown name, so lock-outs do not reveal usernames.
        assert str(locked.value) == str(unknown.value)
        user = db.scalar(select(User).where(User.username == "alice"))
        assert user is not None and user.locked_until is not None
        locked_until = user.locked_until
    # After the lock-out period the right password works again and resets the counter.
    with session_scope(sqlite_url) as db:
        assert authenticate(db, "alice", PASSWORD, now=locked_until + dt.timedelta(seconds=1)).failed_logins == 0
        failures = db.scalars(select(AuditLog).where(AuditLog.action == "auth.failed")).all()
        assert len(failures) == MAX_FAILED_LOGINS and failures[-1].details["locked"] is True


def test_session_token_is_stored_only_as_hash_and_expires(sqlite_url: str) -> None:
    settings = get_settings()
    with session_scope(sqlite_url) as db:
        user = create_user(db, "alice", PASSWORD)
        token, info = start_session(db, user, settings)
    with session_scope(sqlite_url) as db:
        row = db.scalar(select(UserSession))
        assert row is not None and row.token_hash == token_hash(token) and token not in row.token_hash
        assert resolve_session(db, token) == info
        expected = utcnow() + dt.timedelta(hours=settings.session_hours)
        assert abs((info.expires_at - expected).total_seconds()) < 60
        assert resolve_session(db, token, now=info.expires_at + dt.timedelta(seconds=1)) is None
        assert resolve_session(db, "not-a-token") is None


def test_logout_ends_the_session(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as db:
        user = create_user(db, "alice", PASSWORD)
        token, _info = start_session(db, user, get_settings())
    with session_scope(sqlite_url) as db:
        assert end_session(db, token) is True
    with session_scope(sqlite_url) as db:
        assert resolve_session(db, token) is None
        assert end_session(db, token) is False


def test_inactive_user_loses_sessions_and_cannot_log_in(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as db:
        user = create_user(db, "alice", PASSWORD)
        token, _info = start_session(db, user, get_settings())
        user.is_active = False
    with session_scope(sqlite_url) as db:
        assert resolve_session(db, token) is None
        with pytest.raises(AuthError):
            authenticate(db, "alice", PASSWORD)


def test_demo_users_are_created_once_with_random_passwords(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as db:
        created = create_demo_users(db)
    assert [name for name, _ in created] == ["demo-lead", "demo-coder"]
    assert created[0][1] != created[1][1] and all(len(pw) >= 12 for _, pw in created)
    with session_scope(sqlite_url) as db:
        assert create_demo_users(db) == []
        for name, password in created:
            assert authenticate(db, name, password).username == name
        roles = dict(db.execute(select(User.username, User.role)).all())
    assert roles == {"demo-lead": "lead", "demo-coder": "coder"}


def test_production_hasher_uses_rfc9106_strength() -> None:
    from pipeline.review import accounts

    assert accounts._hasher.time_cost >= 3 and accounts._hasher.memory_cost >= 64 * 1024
