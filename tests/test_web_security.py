"""Security of the web app, driven over HTTP through the real ASGI app: roles, blind work, CSRF, cookies,
headers, session expiry and log-out, log-in rate limiting and lock-out. All data is SYNTHETIC."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from pipeline.review.accounts import token_hash
from pipeline.review.blind import assign_blind_sample
from pipeline.review.queue import enqueue_suggestions
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import Coding, ReviewItem, Suggestion, UserSession
from pipeline.web.app import create_app
from pipeline.web.auth import LoginRateLimiter
from tests.e2e.http import current_item, logged_in, login, page_token
from tests.e2e.seed import PASSWORD, SYNTHETIC_CODES, Seeded, fast_password_hashing, seed_all

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_password_hashing(monkeypatch)



@pytest.fixture
def seeded(sqlite_url: str) -> Seeded:
    with session_scope(sqlite_url) as db:
        out = seed_all(db, coders=2, leads=1)
    with session_scope(sqlite_url) as db:
        enqueue_suggestions(db)
        assign_blind_sample(db, get_settings().model_copy(update={"blind_share": 0.5}))
    return out


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(get_settings())) as test_client:
        yield test_client


def test_session_cookie_flags(client: TestClient) -> None:
    response = login(client, "coder1")
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("qualcode_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert f"Max-Age={int(get_settings().session_hours * 3600)}" in cookie


def test_secure_flag_when_configured(seeded: Seeded) -> None:
    app = create_app(get_settings().model_copy(update={"secure_cookies": True}))
    with TestClient(app, base_url="https://testserver") as secure:
        login_page = secure.get("/login")
        assert "Secure" in login_page.headers["set-cookie"]
        response = login(secure, "coder1")
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("qualcode_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_security_headers_and_no_caching_of_pages(client: TestClient) -> None:
    logged_in(client, "coder1")
    page = client.get("/review")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text, "no inline scripts or styles"
    static = client.get("/static/htmx.min.js")
    assert static.status_code == 200 and "Zero-Clause BSD" in static.text[:600]
    assert "max-age" in static.headers["cache-control"]
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert missing.headers["x-frame-options"] == "DENY"


def test_state_changing_requests_without_csrf_token_are_refused(client: TestClient, sqlite_url: str) -> None:
    token = logged_in(client, "coder1")
    item_id, version, kind = current_item(client.get("/review").text)
    action = "blind" if kind == "blind" else "accept"
    form = {"version": str(version), "action": action}
    assert client.post(f"/review/items/{item_id}", data=form).status_code == 403
    assert client.post(f"/review/items/{item_id}", data={**form, "csrf_token": "forged"}).status_code == 403
    assert client.post(f"/review/items/{item_id}", data=form, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/review/undo").status_code == 403
    assert client.post("/logout").status_code == 403
    with session_scope(sqlite_url) as db:
        assert db.scalar(select(func.count()).select_from(Coding).where(Coding.coder == "coder1")) == 0
    # A cross-site origin is refused even with the right token.
    crossed = client.post(f"/review/items/{item_id}", data=form,
                          headers={"X-CSRF-Token": token, "Origin": "https://evil.example"})
    assert crossed.status_code == 403
    ok = client.post(f"/review/items/{item_id}", data=form, headers={"X-CSRF-Token": token, **HX})
    assert ok.status_code == 200
    with session_scope(sqlite_url) as db:
        # An accept writes one coding; a blind submission with no codes picked writes none.
        expected = 0 if kind == "blind" else 1
        assert db.scalar(select(func.count()).select_from(Coding).where(Coding.coder == "coder1")) == expected
        assert db.get(ReviewItem, item_id).status == "done"


def test_login_form_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "coder1", "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403


def test_coder_cannot_reach_lead_pages_or_other_coders_decisions(client: TestClient) -> None:
    logged_in(client, "coder1")
    assert client.get("/users").status_code == 403
    assert client.get("/decisions", params={"coder": "coder2"}).status_code == 403
    assert client.get("/decisions").status_code == 200
    client.cookies.clear()
    logged_in(client, "lead1")
    assert client.get("/users").status_code == 200
    assert client.get("/decisions", params={"coder": "coder2"}).status_code == 200


def test_coder_cannot_open_or_decide_another_coders_blind_item(client: TestClient, sqlite_url: str,
                                                               seeded: Seeded) -> None:
    with session_scope(sqlite_url) as db:
        theirs = db.scalar(
            select(ReviewItem).where(ReviewItem.kind == "blind", ReviewItem.assigned_to == seeded.coders["coder2"])
        )
        theirs_id, theirs_version = theirs.id, theirs.version
    token = logged_in(client, "coder1")
    assert client.get(f"/review/items/{theirs_id}").status_code == 403
    response = client.post(f"/review/items/{theirs_id}", data={"version": str(theirs_version), "action": "blind",
                                                               "codes": "referral_route"},
                           headers={"X-CSRF-Token": token})
    assert response.status_code == 409
    with session_scope(sqlite_url) as db:
        assert db.get(ReviewItem, theirs_id).status == "open"
        assert db.scalar(select(func.count()).select_from(Coding).where(Coding.source == "blind")) == 0


def test_blind_items_show_no_suggestion_or_codes(client: TestClient, sqlite_url: str, seeded: Seeded) -> None:
    with session_scope(sqlite_url) as db:
        db.execute(update(ReviewItem).where(ReviewItem.kind == "blind").values(priority=1000.0))
    logged_in(client, "coder1")
    html = client.get("/review").text
    item_id, _version, kind = current_item(html)
    assert kind == "blind"
    assert "Blind coding" in html
    with session_scope(sqlite_url) as db:
        segment_id = db.get(ReviewItem, item_id).segment_id
        suggested = db.scalar(select(func.count()).select_from(Suggestion).where(Suggestion.segment_id == segment_id))
    assert suggested, "the segment has suggestions, so hiding them is what is being tested"
    assert 'data-testid="suggested-code"' not in html and "similar segments" not in html.lower()
    assert 'class="confidence"' not in html and "Also suggested" not in html and "near-duplicate" not in html


def test_logout_and_expiry_end_the_session(client: TestClient, sqlite_url: str) -> None:
    token = logged_in(client, "coder1")
    held, _version, _kind = current_item(client.get("/review").text)
    old_cookie = client.cookies.get("qualcode_session")
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    with session_scope(sqlite_url) as db:
        assert db.get(ReviewItem, held).status == "open", "log-out hands held items back"
    client.cookies.set("qualcode_session", old_cookie)
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")

    client.cookies.clear()
    logged_in(client, "coder1")
    with session_scope(sqlite_url) as db:
        db.execute(update(UserSession).where(UserSession.ended_at.is_(None))
                   .values(expires_at=dt.datetime(2000, 1, 1)))
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/review"
    htmx = client.post("/review/undo", headers=HX)
    assert htmx.status_code in (401, 403)


def test_login_rate_limit_and_lockout(client: TestClient) -> None:
    for _ in range(5):
        assert login(client, "coder2", "wrong-password-0").status_code == 401
    locked = login(client, "coder2")
    unknown = login(client, "nobody", "wrong-password-0")
    assert locked.status_code == unknown.status_code == 401 and "locked" in locked.text
    assert _login_error(locked.text) == _login_error(unknown.text), "a lock-out does not reveal the username"
    for _ in range(3):
        login(client, "nobody", "wrong-password-0")
    limited = login(client, "coder1")
    assert limited.status_code == 429 and "Too many" in limited.text


def _login_error(html: str) -> str:
    match = re.search(r'id="login-error">([^<]*)<', html)
    assert match, "the log-in page shows an error"
    return match.group(1)


def test_login_does_not_redirect_off_site(client: TestClient) -> None:
    token = page_token(client.get("/login").text)
    response = client.post("/login", data={"username": "coder1", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/x"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_lead_unlocks_a_locked_account(client: TestClient, sqlite_url: str, seeded: Seeded) -> None:
    for _ in range(5):
        login(client, "coder2", "wrong-password-0")
    token = logged_in(client, "lead1")
    page = client.get("/users")
    assert "locked until" in page.text
    target = seeded.coders["coder2"]
    assert client.post(f"/users/{target}/unlock").status_code == 403  # no token
    done = client.post(f"/users/{target}/unlock", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    client.cookies.clear()
    assert login(client, "coder2").status_code == 303
    client.cookies.clear()
    token = logged_in(client, "coder1")
    assert client.post(f"/users/{target}/unlock", data={"csrf_token": token}).status_code == 403


def test_heartbeat_renews_only_your_own_lease(client: TestClient, sqlite_url: str, seeded: Seeded) -> None:
    token = logged_in(client, "coder1")
    mine, _version, _kind = current_item(client.get("/review").text)
    html = client.get("/review").text
    assert f'hx-post="/review/items/{mine}/renew"' in html and 'hx-trigger="every 200s"' in html
    assert client.post(f"/review/items/{mine}/renew", headers={"X-CSRF-Token": token}).status_code == 204
    with session_scope(sqlite_url) as db:
        other = db.scalar(select(ReviewItem.id).where(ReviewItem.id != mine, ReviewItem.status == "open"))
    refused = client.post(f"/review/items/{other}/renew", headers={"X-CSRF-Token": token})
    assert refused.status_code == 409 and "expired" in refused.text


def test_every_lead_only_page_in_the_navigation_refuses_coders(client: TestClient) -> None:
    """Covers pages other areas plug in (the leads' dashboard) through their ``NAV`` declarations."""
    links = client.app.state.nav_links
    lead_only = [link for link in links if not link.visible_to("coder")]
    assert {link.href for link in lead_only} >= {"/users"}
    logged_in(client, "coder1")
    page = client.get("/review").text
    for link in lead_only:
        assert client.get(link.href, follow_redirects=False).status_code == 403, link.href
        assert f'href="{link.href}"' not in page, f"coders do not see a link to {link.href}"
    client.cookies.clear()
    logged_in(client, "lead1")
    for link in lead_only:
        if link.visible_to("lead"):  # key-holder-only pages refuse a lead without the key (own tests)
            assert client.get(link.href).status_code == 200, link.href


def test_invalid_form_answers_with_field_names_never_the_values_sent(client: TestClient) -> None:
    """FastAPI's default 422 echoes every submitted value as JSON; a note may quote transcript wording."""
    token = logged_in(client, "lead1")
    marker = "SYNTHETIC-NOTE-WORDING "
    response = client.post("/lead/agreement/adjudicate", data={
        "csrf_token": token, "segment_id": "not-a-number", "code": "c1", "applied": "1", "theme": "t1",
        "note": marker * 100,
    })
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert marker.strip() not in response.text and "not-a-number" not in response.text
    assert "segment_id" in response.text and "note" in response.text
    fragment = client.post("/review/items/1", data={"csrf_token": token, "version": "x", "action": "accept",
                                                    "note": marker}, headers=HX)
    assert fragment.status_code == 422 and 'role="alert"' in fragment.text and "version" in fragment.text
    assert marker.strip() not in fragment.text


def test_a_lead_who_still_codes_a_segment_blind_does_not_see_anyones_codes_on_it(
    client: TestClient, sqlite_url: str, seeded: Seeded
) -> None:
    """Small teams put leads into the blind sample; the all-coders decisions list must keep them blind."""
    segment = seeded.segments[-1]
    with session_scope(sqlite_url) as db:
        lead_item = ReviewItem(kind="blind", segment_id=segment, assigned_to=seeded.leads["lead1"], status="open",
                               priority=0.0, version=0)
        db.add(lead_item)
        db.add(Coding(segment_id=segment, code_key=SYNTHETIC_CODES[0][2], coder="coder1",
                      user_id=seeded.coders["coder1"], applied=True, source="blind"))
        db.flush()
        lead_item_id = lead_item.id
    logged_in(client, "lead1")
    row = f"<td>#{segment}</td>"
    assert row not in client.get("/decisions").text
    assert row not in client.get("/decisions", params={"coder": "coder1"}).text
    with session_scope(sqlite_url) as db:
        db.execute(update(ReviewItem).where(ReviewItem.id == lead_item_id).values(status="done"))
    assert row in client.get("/decisions", params={"coder": "coder1"}).text


def test_logging_in_again_ends_the_session_the_browser_brought(client: TestClient, sqlite_url: str) -> None:
    logged_in(client, "coder1")
    first = client.cookies.get("qualcode_session")
    assert login(client, "coder2").status_code == 303
    second = client.cookies.get("qualcode_session")
    assert first and second and first != second
    with session_scope(sqlite_url) as db:
        sessions = {row.token_hash: row for row in db.scalars(select(UserSession))}
    assert sessions[token_hash(first)].ended_at is not None
    assert sessions[token_hash(second)].ended_at is None
    client.cookies.clear()
    client.cookies.set("qualcode_session", first)
    assert client.get("/review", follow_redirects=False).status_code == 303, "the old cookie no longer works"


def test_login_rate_limit_is_shared_by_workers_and_forgets_old_attempts(db_url: str) -> None:
    """Two server processes (two limiters on one database) share one count per address; attempts older
    than the window are deleted, whoever made them; only a keyed hash of the address is stored."""
    import datetime as dt

    from pipeline.store.models import LoginAttempt

    worker_a = LoginRateLimiter(db_url, limit=3, window=60.0, secret=b"SYNTHETIC-secret")
    worker_b = LoginRateLimiter(db_url, limit=3, window=60.0, secret=b"SYNTHETIC-secret")
    t0 = dt.datetime(2026, 11, 24, 6, 0, 0)
    assert worker_a.allow("198.51.100.7", now=t0) and worker_b.allow("198.51.100.7", now=t0)
    assert worker_a.allow("203.0.113.9", now=t0)
    assert worker_b.allow("198.51.100.7", now=t0 + dt.timedelta(seconds=10))
    assert not worker_a.allow("198.51.100.7", now=t0 + dt.timedelta(seconds=20)), "3 attempts across workers"
    assert worker_a.retry_after("198.51.100.7", now=t0 + dt.timedelta(seconds=20)) == 40
    assert worker_b.retry_after("192.0.2.1", now=t0) == 0
    with session_scope(db_url) as db:
        hashes = set(db.scalars(select(LoginAttempt.address_hash)))
    assert hashes == {worker_a.address_hash("198.51.100.7"), worker_a.address_hash("203.0.113.9")}
    unkeyed = LoginRateLimiter(db_url)
    assert unkeyed.address_hash("198.51.100.7") not in hashes, "the secret keys the hash"
    # A clock stepped back by more than the window does not block the address beyond one window.
    assert worker_a.retry_after("198.51.100.7", now=t0 - dt.timedelta(hours=1)) == 0
    # A minute later the first two attempts have left the window: the address may try again, and the other
    # address's old attempt is gone from the table.
    later = t0 + dt.timedelta(seconds=61)
    assert worker_b.allow("198.51.100.7", now=later)
    with session_scope(db_url) as db:
        left = db.scalars(select(LoginAttempt.attempted_at)).all()
    assert sorted(left) == [t0 + dt.timedelta(seconds=10), later]
    assert worker_a.prune(now=later + dt.timedelta(seconds=120)) == 2
    with session_scope(db_url) as db:
        assert db.scalar(select(func.count()).select_from(LoginAttempt)) == 0


def _attempts_in_another_process(url: str, attempts: int) -> int:
    """A separate server process: its own engine, its own limiter, the shared database."""
    from pipeline.store.db import get_engine

    get_engine.cache_clear()
    limiter = LoginRateLimiter(url, limit=10)
    return sum(limiter.allow("198.51.100.7") for _ in range(attempts))


def test_login_rate_limit_holds_when_workers_race(db_url: str) -> None:
    """Four processes try six times each at once: exactly the limit of ten get through."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        allowed = list(pool.map(_attempts_in_another_process, [db_url] * 4, [6] * 4))
    assert sum(allowed) == 10


def test_an_unexpected_error_is_a_plain_page_with_the_usual_headers(seeded: Seeded) -> None:
    app = create_app(get_settings())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("SYNTHETIC wording that must not reach the browser")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500 and "SYNTHETIC wording" not in response.text
    assert "something went wrong" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY" and "content-security-policy" in response.headers


def test_head_and_options_never_reach_a_view(client: TestClient, sqlite_url: str) -> None:
    """CSRF treats HEAD and OPTIONS as safe, so no route may accept them: they must not lease an item, return
    a lead page's body, or pass a state change through without a token."""
    logged_in(client, "coder1")
    with session_scope(sqlite_url) as db:
        before = db.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "leased"))
    for method in ("HEAD", "OPTIONS"):
        for path in ("/review", "/lead/agreement", "/users", "/review/undo", "/lead/agreement/snapshot"):
            response = client.request(method, path)
            assert response.status_code == 405, (method, path)
            assert "Segment" not in response.text and "Agreement" not in response.text
    with session_scope(sqlite_url) as db:
        after = db.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "leased"))
    assert after == before
