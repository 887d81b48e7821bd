"""The log-in rate limit counts failures, not log-ins (issue 16, item 2). All data is SYNTHETIC.

Twenty coders behind one office address used to get 429 after the tenth successful log-in of the minute.
Now only failed log-ins count, per account (the lock-out in ``pipeline.review.accounts``) and per address
(``LoginRateLimiter``); a success clears its account's failures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pipeline.review.accounts import MAX_FAILED_LOGINS, create_user
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import LoginAttempt, User
from pipeline.web.app import create_app
from pipeline.web.auth import LoginRateLimiter
from tests.e2e.http import login
from tests.e2e.seed import PASSWORD, fast_password_hashing

WRONG = "wrong-password-0"


@pytest.fixture
def client(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    fast_password_hashing(monkeypatch)
    with session_scope(db_url) as db:
        for n in range(20):
            create_user(db, f"coder{n:02d}", PASSWORD, "coder", actor="test")
    with TestClient(create_app(get_settings())) as test_client:
        yield test_client


def test_twenty_coders_behind_one_address_all_log_in(client: TestClient, db_url: str) -> None:
    limit = client.app.state.login_limiter.limit
    assert limit < 20, "more log-ins than the limit, so counting successes would refuse some"
    for n in range(20):
        client.cookies.clear()
        assert login(client, f"coder{n:02d}").status_code == 303, n
    with session_scope(db_url) as db:
        assert db.scalar(select(func.count()).select_from(LoginAttempt)) == 0, "successes leave no row"


def test_failures_on_one_account_lock_it_and_a_success_clears_them(client: TestClient, db_url: str) -> None:
    client.app.state.login_limiter.limit = 100  # the account's lock-out is tested here, not the address's
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert login(client, "coder00", WRONG).status_code == 401
    assert login(client, "coder00").status_code == 303, "below the limit the right password works"
    with session_scope(db_url) as db:
        assert db.scalar(select(User.failed_logins).where(User.username == "coder00")) == 0
    client.cookies.clear()
    for _ in range(MAX_FAILED_LOGINS - 1):  # the earlier failures no longer count towards the lock-out
        assert login(client, "coder00", WRONG).status_code == 401
    assert login(client, "coder00").status_code == 303
    client.cookies.clear()
    for _ in range(MAX_FAILED_LOGINS):
        assert login(client, "coder01", WRONG).status_code == 401
    locked = login(client, "coder01")
    assert locked.status_code == 401 and "locked" in locked.text, "locked: even the right password fails"
    client.cookies.clear()
    assert login(client, "coder02").status_code == 303, "another account from the same address is unaffected"


def test_failures_spread_over_accounts_hit_the_address_limit(client: TestClient) -> None:
    limit = client.app.state.login_limiter.limit
    for n in range(limit):  # fewer than MAX_FAILED_LOGINS per account: no lock-out does this
        assert login(client, f"coder{n % 4:02d}", WRONG).status_code == 401
    limited = login(client, "coder10")
    assert limited.status_code == 429 and "Too many failed log-ins" in limited.text
    assert "Try again in" in limited.text


def test_a_successful_attempt_is_uncounted_across_workers(db_url: str) -> None:
    """Two workers: the attempt one records and then marks as a success no longer counts for the other."""
    worker_a = LoginRateLimiter(db_url, limit=2, secret=b"SYNTHETIC-secret")
    worker_b = LoginRateLimiter(db_url, limit=2, secret=b"SYNTHETIC-secret")
    for _ in range(5):
        attempt = worker_a.attempt("198.51.100.7")
        assert attempt is not None
        worker_a.succeeded(attempt)
    assert worker_b.attempt("198.51.100.7") is not None and worker_b.attempt("198.51.100.7") is not None
    assert worker_a.attempt("198.51.100.7") is None, "two failures: the address is at its limit"
