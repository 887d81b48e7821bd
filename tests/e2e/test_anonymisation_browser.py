"""The key holder's anonymisation page in real headless Chromium: keep one doubtful masking (k), unmask the
next (u), select a name the anonymiser missed and mask it (m), then release the transcript. Saves
test-artifacts/anonymisation.png.

The held transcript is SYNTHETIC and written straight through the ORM (no Presidio needed): invented
people, with their words encrypted under a key made for the test.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.anonymise.keys import load_keyring
from pipeline.anonymise.pseudonyms import DatabasePseudonymStore
from pipeline.anonymise.types import TURN_SEPARATOR
from pipeline.embed import text_hash
from pipeline.review.accounts import create_user
from pipeline.settings import get_settings, reset_settings
from pipeline.store.db import session_scope
from pipeline.store.models import AnonymisationEvent, AuditLog, Segment, TermList, Transcript, Turn
from tests.e2e.seed import PASSWORD, fast_password_hashing
from tests.e2e.test_review_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _free_port

pytestmark = pytest.mark.browser


@dataclass
class Held:
    transcript_id: int
    kept: int
    unmasked: int


def _seed(url: str) -> Held:
    """A held interview: two doubtful maskings and one name ("Jamie") the anonymiser missed."""
    ring = load_keyring(get_settings())
    with session_scope(url) as db:
        create_user(db, "keyholder", PASSWORD, "lead", key_holder=True, actor="test")
        create_user(db, "coder1", PASSWORD, "coder", actor="test")
        store = DatabasePseudonymStore(db, ring)
        teacher = store.placeholder("PERSON", "Mrs Penhallow")
        boy = store.placeholder("PERSON", "Kieran")
        turns = [
            ("Interviewer", "interviewer", "How did the referral start?"),
            ("Participant", "participant", f"{teacher} rang me about {boy} after the match on Saturday."),
            ("Interviewer", "interviewer", "Who else was there?"),
            ("Participant", "participant", "Jamie from the club came along with his mum."),
        ]
        text = TURN_SEPARATOR.join(t for _, _, t in turns)
        transcript = Transcript(content_hash=hashlib.sha256(text.encode()).hexdigest(), source_name="held.txt",
                                format="txt", status="held", anonymised_text=text)
        db.add(transcript)
        db.flush()
        at = 0
        for i, (speaker, role, body) in enumerate(turns):
            turn = Turn(transcript_id=transcript.id, index=i, speaker=speaker, role=role, start_char=at,
                        end_char=at + len(body))
            db.add(turn)
            db.flush()
            db.add(Segment(transcript_id=transcript.id, turn_id=turn.id, index=i, start_char=at,
                           end_char=at + len(body), text=body, text_hash=text_hash(body), speaker_role=role,
                           codable=role == "participant"))
            at += len(body) + len(TURN_SEPARATOR)
        events = []
        for placeholder, words, score in ((teacher, "Mrs Penhallow", 0.45), (boy, "Kieran", 0.5)):
            start = text.index(placeholder)
            event = AnonymisationEvent(transcript_id=transcript.id, entity_type="PERSON", placeholder=placeholder,
                                       start_char=start, end_char=start + len(placeholder),
                                       recognizer="RecallFirstRecognizer", score=score, status="needs_review",
                                       encrypted_original=ring.encrypt(words))
            db.add(event)
            events.append(event)
        db.flush()
        return Held(transcript.id, events[0].id, events[1].id)


@pytest.fixture
def held(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Held:
    fast_password_hashing(monkeypatch)
    monkeypatch.setenv("QUALCODE_KEY_FILE", str(tmp_path / "qualcode.key"))
    reset_settings()
    load_keyring(get_settings())  # creates the test's key file
    return _seed(sqlite_url)


@pytest.fixture
def live_server(held: Held) -> Iterator[str]:
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


def _login(pg, username: str) -> None:  # type: ignore[no-untyped-def]
    pg.goto("/login")
    pg.locator("#username").fill(username)
    pg.locator("#password").fill(PASSWORD)
    pg.locator("#password").press("Enter")
    pg.wait_for_url("**/review", timeout=60_000)


SELECT_WORDS = """(word) => {
  const box = document.getElementById("transcript-text");
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(word);
    if (at >= 0) {
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + word.length + 1);  // with the space after it, as a double-click often selects
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      return true;
    }
  }
  return false;
}"""


def test_key_holder_keeps_unmasks_masks_a_missed_name_and_releases(page, sqlite_url: str, held: Held) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    _login(page, "keyholder")
    page.get_by_role("link", name="Anonymisation").click()
    page.wait_for_url("**/anonymisation")
    page.locator(f'a[href="/anonymisation/{held.transcript_id}"]').click()
    page.wait_for_url(f"**/anonymisation/{held.transcript_id}")

    first = page.locator(f"#masking-{held.kept}")
    assert "is-current" in (first.get_attribute("class") or "")
    assert first.locator(".original-words").inner_text() == "Mrs Penhallow"  # the key holder sees the words
    assert first.locator(".score").inner_text() == "0.45"
    assert "RecallFirstRecognizer" in first.inner_text() and "PERSON" in first.inner_text()
    assert page.locator("#release-button").is_disabled()
    page.screenshot(path=str(ARTIFACTS / "anonymisation.png"), full_page=True)

    with page.expect_navigation():
        page.keyboard.press("k")
    assert "Kept masked" in page.locator("#flashes").inner_text()
    assert page.locator(f"#masking-{held.kept} .status").inner_text() == "kept masked"
    second = page.locator(f"#masking-{held.unmasked}")
    assert "is-current" in (second.get_attribute("class") or "")

    with page.expect_navigation():
        page.keyboard.press("u")
    assert "Kieran" in page.locator("#transcript-text").inner_text()
    assert page.locator(f"#masking-{held.unmasked} .status").inner_text() == "unmasked"

    assert page.evaluate(SELECT_WORDS, "Jamie")
    with page.expect_navigation():
        page.keyboard.press("m")
    shown = page.locator("#transcript-text").inner_text()
    assert "Jamie" not in shown and "[PERSON_3]" in shown
    assert "Masked as [PERSON_3]" in page.locator("#flashes").inner_text()

    assert page.locator("#release-button").is_enabled()
    with page.expect_navigation():
        page.locator("#release-button").click()
    page.wait_for_url("**/anonymisation")
    assert page.locator("#nothing-held").is_visible()
    assert page.console_errors == [], "\n".join(page.console_errors)  # type: ignore[attr-defined]

    ring = load_keyring(get_settings())
    with session_scope(sqlite_url) as db:
        transcript = db.get(Transcript, held.transcript_id)
        assert transcript.status == "segmented"
        text = transcript.anonymised_text or ""
        assert "Kieran" in text and "Jamie" not in text and "Penhallow" not in text
        for segment in db.scalars(select(Segment).where(Segment.transcript_id == held.transcript_id)):
            assert segment.text == text[segment.start_char : segment.end_char]
        assert db.get(AnonymisationEvent, held.kept).status == "confirmed"
        assert db.get(AnonymisationEvent, held.unmasked).status == "undone"
        deny = [ring.decrypt(t.encrypted_term) for t in db.scalars(select(TermList).where(TermList.kind == "deny"))]
        assert "Jamie" in deny
        actions = set(db.scalars(select(AuditLog.action).where(AuditLog.actor == "web:keyholder")))
        assert {"anonymise.view_originals", "anonymise.review.confirm", "anonymise.review.undo",
                "anonymise.mask_missed", "transcript.release"} <= actions
