"""End to end in real headless Chromium: log in, clear a dozen items by keyboard alone, check what was
stored, then see the decisions as the lead. Saves test-artifacts/review.png (and review-blind.png).

The app runs for real (uvicorn on a free loopback port, in a background thread) on a migrated SQLite
database seeded with SYNTHETIC data (tests/e2e/seed.py).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.review.blind import assign_blind_sample
from pipeline.review.queue import enqueue_suggestions
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Coding, ReviewItem, Suggestion
from tests.conftest import REPO_ROOT
from tests.e2e.seed import PASSWORD, Seeded, fast_password_hashing, seed_all

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO_ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def seeded(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    fast_password_hashing(monkeypatch)
    with session_scope(sqlite_url) as db:
        out = seed_all(db, coders=2, leads=1, transcripts=3, answers=8)
    with session_scope(sqlite_url) as db:
        enqueue_suggestions(db)
        assign_blind_sample(db, get_settings())
    return out


@pytest.fixture
def live_server(seeded: Seeded) -> Iterator[str]:
    import uvicorn

    from pipeline.web.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(get_settings()), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(live_server: str):  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live_server)
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        errors: list[str] = []
        pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.console_errors = errors  # type: ignore[attr-defined]
        yield pg
        context.close()
        browser.close()


def _item(pg) -> tuple[int, str, int]:  # type: ignore[no-untyped-def]
    form = pg.locator("#decision-form")
    return (int(form.get_attribute("data-item")), form.get_attribute("data-kind"),
            int(pg.locator('input[name="version"]').input_value()))


def _decide(pg, *keys: str) -> None:  # type: ignore[no-untyped-def]
    """Press keys; the last one sends the decision. Wait for its response and the swap, with no reload."""
    for key in keys[:-1]:
        pg.keyboard.press(key)
    with pg.expect_response(lambda r: r.request.method == "POST" and "/review/" in r.url) as info:
        pg.keyboard.press(keys[-1])
    assert info.value.status == 200
    # (Locator waits, not wait_for_function: the page's CSP rightly forbids evaluating strings.)
    pg.locator('#review-panel[aria-busy="false"]').wait_for()
    pg.wait_for_timeout(50)


def _login(pg, username: str) -> None:  # type: ignore[no-untyped-def]
    pg.goto("/login")
    # The username field has focus (autofocus); wait for it, or on a loaded machine the first keys can
    # arrive before focus does and the log-in fails.
    pg.locator("#username:focus").wait_for()
    pg.keyboard.type(username)
    pg.keyboard.press("Tab")
    pg.locator("#password:focus").wait_for()
    pg.keyboard.type(PASSWORD)
    pg.keyboard.press("Enter")
    pg.wait_for_url("**/review", timeout=60_000)  # Argon2 verification is slow on purpose


def test_coder_clears_a_dozen_items_by_keyboard_and_the_lead_sees_them(page, sqlite_url: str,
                                                                        seeded: Seeded) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    _login(page, "coder1")
    page.evaluate("window.__noReload = 'still here'")
    expected: dict[int, dict] = {}
    screenshot_taken = blind_shot = False
    decided = 0
    step = 0
    while decided < 12:
        step += 1
        assert step < 40, "the queue should not stall"
        item_id, kind, _version = _item(page)
        if kind == "blind":
            page.keyboard.press("c")
            page.keyboard.type("referral")
            page.keyboard.press("Enter")
            if not blind_shot:
                page.screenshot(path=str(ARTIFACTS / "review-blind.png"), full_page=True)
                blind_shot = True
            # Mark another code as considered but not applied, then save with certainty 2.
            page.keyboard.press("Escape")
            page.keyboard.press("/")
            page.keyboard.type("training gap")
            page.keyboard.press("Shift+Enter")
            page.keyboard.press("Escape")
            _decide(page, "2", "a")
            expected[item_id] = {"kind": "blind", "applied": {"referral_route"}, "ruled_out": {"training_gap"},
                                 "certainty": 2}
            decided += 1
            continue
        if not screenshot_taken and page.locator('[data-testid="suggested-code"]').count():
            page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
            screenshot_taken = True
        group = page.locator('[data-key="b"]').count() > 0
        choice = step % 6
        if group and decided >= 6 and "bulk" not in {e.get("action") for e in expected.values()}:
            _decide(page, "b")
            expected[item_id] = {"action": "bulk"}
        elif choice == 1:
            _decide(page, "4", "a")
            expected[item_id] = {"action": "accept", "certainty": 4}
        elif choice == 2:
            page.keyboard.press("n")
            page.keyboard.type("synthetic note")
            page.keyboard.press("Escape")
            _decide(page, "r")
            expected[item_id] = {"action": "reject", "note": "synthetic note"}
        elif choice == 3:
            page.keyboard.press("c")
            page.keyboard.type("training")
            page.keyboard.press("Enter")
            _decide(page, "Control+Enter")
            expected[item_id] = {"action": "recode", "code": "training_gap"}
        elif choice == 4:
            _decide(page, "s")
            expected[item_id] = {"action": "skip"}
            continue  # a skip is not a decision
        elif choice == 5:
            _decide(page, "a")
            _decide(page, "u")
            assert _item(page)[0] == item_id, "undo brings the item back"
            _decide(page, "r")
            expected[item_id] = {"action": "reject"}
        else:
            _decide(page, "5", "a")
            expected[item_id] = {"action": "accept", "certainty": 5}
        decided += 1

    assert page.evaluate("window.__noReload") == "still here", "decisions must not reload the page"
    assert screenshot_taken and (ARTIFACTS / "review.png").stat().st_size > 10_000
    assert page.console_errors == [], "\n".join(page.console_errors)

    with session_scope(sqlite_url) as db:
        for item_id, want in expected.items():
            item = db.get(ReviewItem, item_id)
            codings = db.scalars(select(Coding).where(Coding.review_item_id == item_id)).all()
            if want.get("kind") == "blind":
                assert item.status == "done"
                assert {c.code_key for c in codings if c.applied} == want["applied"]
                assert {c.code_key for c in codings if not c.applied} == want["ruled_out"]
                assert {c.source for c in codings} == {"blind"} and {c.certainty for c in codings} == {2}
                continue
            suggestion = db.get(Suggestion, item.suggestion_id)
            action = want["action"]
            if action == "skip":
                assert item.status in ("skipped", "leased") and codings == []
                continue
            assert item.status == "done" and item.lease_owner == seeded.coders["coder1"]
            review_rows = [c for c in codings if c.source == "review"]
            assert len(review_rows) == 1 and review_rows[0].coder == "coder1"
            row = review_rows[0]
            assert row.suggestion_id == suggestion.id and row.model_version == "synthetic-model-1"
            if action in ("accept", "bulk"):
                assert row.applied and suggestion.status == "accepted"
                assert row.certainty == want.get("certainty")
            elif action == "reject":
                assert not row.applied and suggestion.status == "rejected"
                assert row.note == want.get("note")
            elif action == "recode":
                assert not row.applied and suggestion.status == "rejected"
                manual = [c for c in codings if c.source == "manual"]
                assert [(c.code_key, c.applied) for c in manual] == [(want["code"], True)]
            if action == "bulk":
                siblings = db.scalars(select(ReviewItem).where(ReviewItem.group_key == item.group_key,
                                                               ReviewItem.id != item.id)).all()
                assert siblings and all(s.status == "done" for s in siblings)
        audited = db.scalars(select(AuditLog.action).where(AuditLog.actor == "coder1")).all()
    assert "review.undo" in audited and "blind.submit" in audited

    # Log out by keyboard-free click and log in as the lead: the coder's decisions are there.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    _login(page, "lead1")
    page.goto("/decisions?coder=coder1")
    rows = page.locator('[data-testid="decision-row"]')
    assert rows.count() >= 12
    page.screenshot(path=str(ARTIFACTS / "decisions-lead.png"), full_page=True)


def test_review_controls_have_accessible_names(page) -> None:  # type: ignore[no-untyped-def]
    _login(page, "coder1")
    for role, name in [("button", "Accept"), ("button", "Reject"), ("button", "Skip"), ("button", "Undo last"),
                       ("textbox", "Note"), ("radio", "1"), ("radio", "5"), ("navigation", "Main"),
                       ("status", None)]:
        locator = page.get_by_role(role, name=name) if name else page.get_by_role(role)
        assert locator.count() >= 1, (role, name)
    page.keyboard.press("c")
    from playwright.sync_api import expect

    expect(page.get_by_role("searchbox", name="Use another code instead")).to_be_focused()
    assert page.get_by_role("listbox", name="Codes").get_by_role("option").count() == 6
    page.keyboard.type("joint")
    visible = page.get_by_role("listbox", name="Codes").get_by_role("option").filter(visible=True)
    assert visible.count() == 1 and visible.first.get_attribute("aria-selected") == "true"


def test_login_page_keyboard_and_errors(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/review")
    assert page.url.endswith("/login?next=/review")
    page.keyboard.type("coder1")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    assert page.get_by_role("alert").inner_text().startswith("invalid username or password")
    assert os.environ.get("QUALCODE_DATABASE_URL", "").startswith("sqlite")
