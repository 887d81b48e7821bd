"""The leads' agreement dashboard through the real app (FastAPI TestClient) and headless Chromium.

All data is SYNTHETIC (``seed_agreement_project``: invented segments, coders, decisions and suggestions).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pipeline.agreement.snapshots import snapshot_agreement
from pipeline.codebook import codebook_from_data
from pipeline.review.accounts import start_session
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import AgreementSnapshot, AuditLog, Coding, ReviewItem, Suggestion, User
from pipeline.web.app import create_app
from pipeline.web.auth import SESSION_COOKIE
from tests.test_agreement_db import SYNTHETIC_CODEBOOK, seed_agreement_project

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"


def _login(url: str, username: str) -> tuple[str, str]:
    """A live session for ``username``: (cookie token, CSRF token)."""
    with session_scope(url) as s:
        user = s.scalar(select(User).where(User.username == username))
        token, info = start_session(s, user, get_settings())
    return token, info.csrf_token


def _add_queue_and_reviews(url: str, segments: list[int]) -> None:
    """Open items for the coders and some accepted/rejected suggestions (synthetic)."""
    with session_scope(url) as s:
        users = {u.username: u.id for u in s.scalars(select(User))}
        for i, seg in enumerate(segments[:6]):
            sug = Suggestion(
                segment_id=seg,
                code_key="referral",
                probability=0.4,
                decision="review",
                model_version="m1",
                status="accepted" if i % 3 else "rejected",
            )
            s.add(sug)
            s.flush()
            s.add(
                ReviewItem(
                    kind="review",
                    segment_id=seg,
                    suggestion_id=sug.id,
                    status="done",
                    lease_owner=users["ann" if i % 2 else "bob"],
                    done_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                )
            )
        for seg in segments[6:9]:
            s.add(ReviewItem(kind="blind", segment_id=seg, assigned_to=users["carl"], status="open"))


@pytest.fixture
def dashboard_db(sqlite_url: str) -> dict[str, Any]:
    seeded = seed_agreement_project(sqlite_url, codebook_from_data(SYNTHETIC_CODEBOOK))
    _add_queue_and_reviews(sqlite_url, seeded["segments"])
    return seeded


@pytest.fixture
def client(dashboard_db: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_app(get_settings()), base_url="http://testserver") as c:
        yield c


def _as(client: TestClient, url: str, username: str) -> str:
    token, csrf = _login(url, username)
    client.cookies.set(SESSION_COOKIE, token)
    return csrf


def test_only_leads_see_the_dashboard(client: TestClient, dashboard_db: dict[str, Any]) -> None:
    response = client.get("/lead/agreement", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    _as(client, dashboard_db["url"], "ann")
    assert client.get("/lead/agreement").status_code == 403
    assert client.get("/lead/agreement/theme/risk").status_code == 403
    assert client.get("/lead/agreement/report.csv").status_code == 403


def test_dashboard_table_and_charts(client: TestClient, dashboard_db: dict[str, Any]) -> None:
    _as(client, dashboard_db["url"], "lena")
    page = client.get("/lead/agreement")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="agreement-table"' in html
    assert html.count('data-testid="theme-row"') == 2
    assert 'href="/lead/agreement/theme/risk?comparison=human_human"' in html
    assert "Online risk" in html and "Krippendorff" in html
    assert re.search(r'class="stat (ok|warn|bad)"', html)
    assert 'class="stat na"' in html and "same category" in html  # referral: nobody applied it
    assert html.count("<svg") >= 4 and "No snapshots yet" in html
    assert "style=" not in html.split("<main", 1)[1]  # the CSP forbids inline styles
    assert "carl" in html and "Share of suggestions accepted" in html
    batch2 = client.get(f"/lead/agreement?batch={dashboard_db['batches'][1]}")
    assert batch2.status_code == 200 and f"(batch {dashboard_db['batches'][1]})" in batch2.text
    assert re.search(r'<th scope="row" class="name">Online risk</th>\s*<td class="num">6</td>', batch2.text)
    model = client.get("/lead/agreement?comparison=human_model")
    assert model.status_code == 200 and "Model vs coders" in model.text
    assert client.get("/lead/agreement?comparison=bogus").status_code == 422


def test_snapshot_needs_csrf_and_feeds_alerts_and_trend(client: TestClient, dashboard_db: dict[str, Any]) -> None:
    csrf = _as(client, dashboard_db["url"], "lena")
    assert client.post("/lead/agreement/snapshot").status_code == 403
    for _ in range(2):
        response = client.post("/lead/agreement/snapshot", data={"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303
    with session_scope(dashboard_db["url"]) as s:
        assert s.scalars(select(AgreementSnapshot)).first() is not None
    html = client.get("/lead/agreement").text
    assert 'data-testid="agreement-alerts"' in html and "below the" in html
    assert "<polyline" in html and "No snapshots yet" not in html


def test_drill_down_and_adjudicate(client: TestClient, dashboard_db: dict[str, Any]) -> None:
    csrf = _as(client, dashboard_db["url"], "lena")
    segs = dashboard_db["segments"]
    page = client.get("/lead/agreement/theme/risk")
    assert page.status_code == 200
    assert page.text.count('data-testid="disagreement"') == 4
    assert 'name="csrf_token"' in page.text and "ann vs bob" not in page.text  # two coders: no pair rows
    assert client.get("/lead/agreement/theme/practice").text.count('data-testid="disagreement"') == 0
    assert client.get("/lead/agreement/theme/nope").status_code == 404

    form = {"segment_id": str(segs[1]), "code": "family_risk", "applied": "1", "theme": "risk",
            "note": "SYNTHETIC adjudication note"}
    assert client.post("/lead/agreement/adjudicate", data=form).status_code == 403  # no CSRF token
    response = client.post("/lead/agreement/adjudicate", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/lead/agreement/theme/risk")
    with session_scope(dashboard_db["url"]) as s:
        row = s.scalar(select(Coding).where(Coding.source == "adjudication"))
        assert row is not None and row.segment_id == segs[1] and row.applied and row.coder == "lena"
        entry = s.scalar(select(AuditLog).where(AuditLog.action == "agreement.adjudicate"))
        assert entry is not None and entry.actor == "lena" and entry.entity_id == str(row.id)
        assert entry.details["segment_id"] == segs[1] and entry.details["code"] == "family_risk"
        assert entry.details["applied"] is True and entry.details["has_note"] is True
        assert "SYNTHETIC adjudication note" not in json.dumps(entry.details), "the audit keeps no note text"
        assert row.note == "SYNTHETIC adjudication note"
    after = client.get("/lead/agreement/theme/risk")
    assert after.text.count('data-testid="disagreement"') == 3
    assert "Resolved segment" in after.text  # the flash message
    resolved = client.get("/lead/agreement/theme/risk?resolved=true")
    assert "resolved by lena" in resolved.text
    bad = {**form, "code": "made_up", "csrf_token": csrf}
    refused = client.post("/lead/agreement/adjudicate", data=bad)
    assert refused.status_code == 422 and "not in the active codebook" in refused.text


def test_report_download(client: TestClient, dashboard_db: dict[str, Any]) -> None:
    _as(client, dashboard_db["url"], "lena")
    response = client.get("/lead/agreement/report.html")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "Methods" in response.text and "<script" not in response.text
    csv_text = client.get("/lead/agreement/report.csv?comparison=human_model").text
    assert csv_text.startswith("scope,key") and "model|ann" in csv_text


# --- headless Chromium ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(dashboard_db: dict[str, Any]) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(get_settings()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_dashboard_in_chromium(live_server: str, dashboard_db: dict[str, Any]) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium not installed at /usr/bin/chromium")
    url = dashboard_db["url"]
    settings = get_settings()
    with session_scope(url) as s:  # a short history, so the trend chart has lines
        for day, flip in ((1, False), (2, False), (3, True)):
            if flip:
                for sug in s.scalars(select(Suggestion).where(Suggestion.code_key == "online_risk")):
                    sug.probability = 1.0 - sug.probability
            snapshot_agreement(s, settings, now=dt.datetime(2026, 3, day, 9))
    token, _csrf = _login(url, "lena")
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server}])
        page = context.new_page()
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on(
            "request",
            lambda req: (
                problems.append(f"external request {req.url}")
                if not req.url.startswith(live_server) and not req.url.startswith("data:")
                else None
            ),
        )
        page.goto(f"{live_server}/lead/agreement?comparison=human_model")
        page.wait_for_selector('[data-testid="agreement-table"]')
        assert page.locator("svg.chart").count() == 4
        assert page.locator("svg.chart-line polyline").count() >= 1
        box = page.locator("svg.chart-line").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100  # CSS loaded, chart laid out
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        page.click("text=Coder vs coder (blind sample)")
        page.click('[data-testid="theme-row"] >> text=Risk')
        page.wait_for_selector('[data-testid="disagreement"]')
        first = page.locator('[data-testid="disagreement"]').first
        first.locator('input[value="0"]').check()
        first.locator("button[type=submit]").click()
        page.wait_for_selector("text=Resolved segment")
        assert page.locator('[data-testid="disagreement"]').count() == 3
        page.screenshot(path=str(ARTIFACTS / "dashboard-theme.png"), full_page=True)
        browser.close()
    assert not problems, problems
