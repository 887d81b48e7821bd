"""The review page over HTTP: one round trip per decision, stale submissions, undo, invalid codes and the
plain-form fallback. All data is SYNTHETIC."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pipeline.review.queue import enqueue_suggestions
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.store.models import Coding, ReviewItem
from pipeline.web.app import create_app
from tests.e2e.http import current_item, logged_in
from tests.e2e.seed import fast_password_hashing, seed_all

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_password_hashing(monkeypatch)


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    with session_scope(sqlite_url) as db:
        seed_all(db, coders=2, leads=1)
    with session_scope(sqlite_url) as db:
        enqueue_suggestions(db)
    with TestClient(create_app(get_settings())) as test_client:
        yield test_client


def _codings(url: str, **where: object) -> int:
    with session_scope(url) as db:
        query = select(func.count()).select_from(Coding)
        for key, value in where.items():
            query = query.where(getattr(Coding, key) == value)
        return int(db.scalar(query) or 0)


def test_decision_returns_the_next_item_as_a_fragment(client: TestClient, sqlite_url: str) -> None:
    token = logged_in(client, "coder1")
    item_id, version, _ = current_item(client.get("/review").text)
    response = client.post(f"/review/items/{item_id}", data={"version": version, "action": "accept",
                                                             "certainty": "4"}, headers={"X-CSRF-Token": token, **HX})
    assert response.status_code == 200
    assert "<html" not in response.text, "htmx gets the panel only"
    next_id, _, _ = current_item(response.text)
    assert next_id != item_id and "Accepted." in response.text
    assert _codings(sqlite_url, review_item_id=item_id, applied=True, certainty=4) == 1


def test_a_stale_submission_is_refused_without_a_second_coding(client: TestClient, sqlite_url: str) -> None:
    token = logged_in(client, "coder1")
    item_id, version, _ = current_item(client.get("/review").text)
    form = {"version": version, "action": "accept"}
    client.post(f"/review/items/{item_id}", data=form, headers={"X-CSRF-Token": token, **HX})
    again = client.post(f"/review/items/{item_id}", data=form, headers={"X-CSRF-Token": token, **HX})
    assert again.status_code == 200 and "already decided" in again.text
    assert current_item(again.text)[0] != item_id
    assert _codings(sqlite_url, review_item_id=item_id) == 1
    # Without htmx the conflict is an error page with status 409.
    plain = client.post(f"/review/items/{item_id}", data={**form, "csrf_token": token})
    assert plain.status_code == 409


def test_unknown_code_keeps_the_item_and_says_why(client: TestClient, sqlite_url: str) -> None:
    token = logged_in(client, "coder1")
    item_id, version, _ = current_item(client.get("/review").text)
    response = client.post(f"/review/items/{item_id}", data={"version": version, "action": "recode",
                                                             "codes": "no_such_code"},
                           headers={"X-CSRF-Token": token, **HX})
    assert response.status_code == 200 and "unknown code(s) no_such_code" in response.text
    assert current_item(response.text)[0] == item_id
    assert _codings(sqlite_url, coder="coder1") == 0


def test_undo_over_http_and_the_plain_form_fallback(client: TestClient, sqlite_url: str) -> None:
    token = logged_in(client, "coder1")
    item_id, version, _ = current_item(client.get("/review").text)
    redirect = client.post(f"/review/items/{item_id}", data={"version": version, "action": "reject",
                                                             "csrf_token": token}, follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/review"
    undone = client.post("/review/undo", headers={"X-CSRF-Token": token, **HX})
    assert current_item(undone.text)[0] == item_id and "Undone" in undone.text
    assert _codings(sqlite_url, coder="coder1") == 0
    with session_scope(sqlite_url) as db:
        assert db.get(ReviewItem, item_id).status == "leased"
    nothing = client.post("/review/undo", headers={"X-CSRF-Token": token, **HX})
    assert "nothing to undo" in nothing.text


def test_decisions_page_lists_only_your_own_for_coders(client: TestClient) -> None:
    for name in ("coder1", "coder2"):
        client.cookies.clear()
        token = logged_in(client, name)
        item_id, version, _ = current_item(client.get("/review").text)
        client.post(f"/review/items/{item_id}", data={"version": version, "action": "accept"},
                    headers={"X-CSRF-Token": token, **HX})
    page = client.get("/decisions").text
    assert len(re.findall('data-testid="decision-row"', page)) == 1 and "coder1" not in page.split("<main")[1]
    client.cookies.clear()
    logged_in(client, "lead1")
    lead_page = client.get("/decisions").text
    assert len(re.findall('data-testid="decision-row"', lead_page)) == 2


@pytest.mark.parametrize("certainty", ["²", "0", "6", "9" * 5000, "four"])
def test_a_certainty_outside_1_to_5_keeps_the_item_undecided(
    client: TestClient, sqlite_url: str, certainty: str
) -> None:
    token = logged_in(client, "coder1")
    item_id, version, _ = current_item(client.get("/review").text)
    response = client.post(f"/review/items/{item_id}", data={"version": version, "action": "accept",
                                                             "certainty": certainty},
                           headers={"X-CSRF-Token": token, **HX})
    assert response.status_code == 200 and "certainty must be 1-5" in response.text
    assert current_item(response.text)[0] == item_id
    assert _codings(sqlite_url, review_item_id=item_id) == 0
    plain = client.post(f"/review/items/{item_id}", data={"version": version, "action": "accept",
                                                          "certainty": certainty, "csrf_token": token})
    assert plain.status_code == 422
