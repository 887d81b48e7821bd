"""Accounts, passwords and server-side sessions.

Why server-side sessions: the cookie only carries a random token; the database stores its SHA-256, the
expiry and the CSRF token. A stolen database therefore yields no usable cookie, a log-out really ends the
session (it is marked ended, not merely forgotten by the browser), and a lead can end every session of a
user by deactivating the account.

Why a lock-out on the account (and not only a per-address limiter in the web layer): guessing attacks on
safeguarding data are expected to come from many addresses; ``MAX_FAILED_LOGINS`` wrong passwords in a row
lock the account for ``LOCKOUT_MINUTES`` whatever the address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.errors import AuthError, ConfigError
from pipeline.settings import Settings
from pipeline.store.audit import audit
from pipeline.store.models import User, UserSession, utcnow

ROLES = ("admin", "lead", "coder")
MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15
MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
DEMO_USERS = (("demo-lead", "lead"), ("demo-coder", "coder"))

_hasher = PasswordHasher()
_dummy_hashes: dict[int, str] = {}
#: The one message for every failed log-in (unknown user, wrong password, locked account): a lock-out is
#: mentioned in general terms, because saying "this account is locked" tells a guesser the name exists.
_GENERIC_FAILURE = (
    f"invalid username or password (after {MAX_FAILED_LOGINS} failures in a row an account is locked for "
    f"{LOCKOUT_MINUTES} minutes)"
)


@dataclass(frozen=True)
class SessionInfo:
    """What a request needs to know about its log-in (no ORM objects cross the web boundary)."""

    user_id: int
    username: str
    role: str
    is_key_holder: bool
    session_id: int
    csrf_token: str
    expires_at: dt.datetime


def _dummy_hash() -> str:
    """A hash to verify against when the username is unknown or locked, so that a failed log-in costs the
    same time either way and response times do not reveal which usernames exist. Made lazily (hashing
    costs as much as a log-in) and per hasher, so its cost always matches real hashes."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[key]


def hash_password(password: str) -> str:
    """Argon2id hash (argon2-cffi defaults follow RFC 9106's recommendations)."""
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    """The stored form of a session token: SHA-256 hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def validate_new_account(username: str, password: str, role: str) -> None:
    """Reject unusable account details with a message that names the field (never echoes the password)."""
    if not USERNAME_PATTERN.match(username):
        raise ConfigError(
            f"username {username!r}: use 2-63 lower-case letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"password for {username!r} is too short (at least {MIN_PASSWORD_LENGTH} characters)")


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str = "coder",
    *,
    key_holder: bool = False,
    actor: str = "cli",
) -> User:
    """Create an account; raises ``ConfigError`` if the name is taken or the details are unusable."""
    username = username.strip().lower()
    validate_new_account(username, password, role)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConfigError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        is_key_holder=key_holder,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    audit(session, actor, "user.create", "user", user.id, username=username, role=role, key_holder=key_holder)
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise ConfigError(f"user {username!r} does not exist (see: qualcode user list)")
    return user


def update_user(
    session: Session,
    username: str,
    *,
    role: str | None = None,
    key_holder: bool | None = None,
    active: bool | None = None,
    actor: str = "cli",
) -> User:
    """Change an account's role, key-holder flag or active state. Deactivating ends its sessions."""
    user = get_user(session, username)
    changes: dict[str, object] = {}
    if role is not None and role != user.role:
        if role not in ROLES:
            raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
        user.role = changes["role"] = role
    if key_holder is not None and key_holder != user.is_key_holder:
        user.is_key_holder = changes["key_holder"] = key_holder
    if active is not None and active != user.is_active:
        user.is_active = changes["active"] = active
        if not active:
            end_all_sessions(session, user.id)
    if changes:
        audit(session, actor, "user.update", "user", user.id, **changes)
    return user


def set_password(session: Session, username: str, password: str, *, actor: str = "cli") -> User:
    """Replace a password, clear any lock-out and end the account's sessions."""
    user = get_user(session, username)
    validate_new_account(user.username, password, user.role)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    ended = end_all_sessions(session, user.id)
    audit(session, actor, "user.password", "user", user.id, sessions_ended=ended)
    return user


def unlock_user(session: Session, username: str, *, actor: str = "cli") -> User:
    user = get_user(session, username)
    user.failed_logins = 0
    user.locked_until = None
    audit(session, actor, "user.unlock", "user", user.id)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def authenticate(session: Session, username: str, password: str, *, now: dt.datetime | None = None) -> User:
    """Check a log-in, updating the failure counter and lock-out; returns the user or raises ``AuthError``.

    The same message (and the same Argon2 cost) for an unknown user, a wrong password and a locked
    account, so neither the answer nor its timing tells which usernames exist; the message says that
    repeated failures lock an account, which is what its owner needs to know. A correct password does not
    open a locked account.
    """
    now = now or utcnow()
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.is_active:
        _verify(_dummy_hash(), password)
        raise AuthError(_GENERIC_FAILURE)
    if user.locked_until is not None and user.locked_until > now:
        _verify(_dummy_hash(), password)
        raise AuthError(_GENERIC_FAILURE)
    if not _verify(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        locked = user.failed_logins >= MAX_FAILED_LOGINS
        if locked:
            user.locked_until = now + dt.timedelta(minutes=LOCKOUT_MINUTES)
            user.failed_logins = 0
        audit(session, user.username, "auth.failed", "user", user.id, locked=locked)
        raise AuthError(_GENERIC_FAILURE)
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def start_session(session: Session, user: User, settings: Settings) -> tuple[str, SessionInfo]:
    """Open a session for ``user``; returns the cookie token (shown once) and the session's details."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        token_hash=token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + dt.timedelta(hours=settings.session_hours),
    )
    session.add(row)
    session.flush()
    audit(session, user.username, "auth.login", "user_session", row.id)
    return token, _info(user, row)


def resolve_session(session: Session, token: str | None, *, now: dt.datetime | None = None) -> SessionInfo | None:
    """The live session for a cookie token, or None if unknown, ended, expired or the user is inactive."""
    if not token:
        return None
    now = now or utcnow()
    row = session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return _info(user, row)


def end_session(session: Session, token: str | None) -> bool:
    """End the session behind ``token`` (log-out). Returns whether a live session was ended."""
    if not token:
        return False
    row = session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = utcnow()
    user = session.get(User, row.user_id)
    audit(session, user.username if user else "unknown", "auth.logout", "user_session", row.id)
    return True


def end_all_sessions(session: Session, user_id: int) -> int:
    """End every live session of a user (deactivation, password change)."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def create_demo_users(session: Session) -> list[tuple[str, str]]:
    """Create the demo lead and demo coder with random passwords; returns only the ones created now.

    Idempotent: existing demo accounts are left alone (their passwords cannot be shown again because only
    hashes are stored), so ``make demo`` prints log-ins the first time and nothing afterwards.
    """
    created: list[tuple[str, str]] = []
    for username, role in DEMO_USERS:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        password = secrets.token_urlsafe(12)
        create_user(session, username, password, role, actor="demo")
        created.append((username, password))
    return created


def _info(user: User, row: UserSession) -> SessionInfo:
    return SessionInfo(
        user_id=user.id,
        username=user.username,
        role=user.role,
        is_key_holder=bool(user.is_key_holder),
        session_id=row.id,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
    )
