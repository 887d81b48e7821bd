"""Hostile numbers in the web app's URLs and forms (issue 16, item 4). All data is SYNTHETIC.

Every integer path, query and form parameter of ``pipeline/web/views/*.py`` goes straight to the database.
10**30 there made SQLite raise ``OverflowError`` (PostgreSQL: ``NumericValueOutOfRange``), a 500 page. The
bounded types in ``pipeline/web/params.py`` turn it into a 422 before any view runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pipeline.anonymise.keys import load_keyring
from pipeline.review.accounts import create_user
from pipeline.review.blind import assign_blind_sample
from pipeline.review.queue import enqueue_suggestions
from pipeline.settings import get_settings
from pipeline.store.db import session_scope
from pipeline.web.app import create_app
from pipeline.web.params import MAX_INT
from tests.e2e.http import logged_in
from tests.e2e.seed import PASSWORD, fast_password_hashing, seed_all

BIG = str(10**30)

#: (method, url, form) for every integer parameter of every route: one parameter is BIG in each request,
#: the others are valid, so the request would reach the view if the bound were missing.
REQUESTS = [
    ("GET", f"/review/items/{BIG}", None),
    ("POST", f"/review/items/{BIG}", {"version": "0", "action": "skip"}),
    ("POST", "/review/items/1", {"version": BIG, "action": "skip"}),
    ("POST", f"/review/items/{BIG}/renew", None),
    ("POST", f"/users/{BIG}/unlock", {}),
    ("GET", f"/lead/agreement?batch={BIG}", None),
    ("POST", "/lead/agreement/adjudicate", {"segment_id": BIG, "code": "c1", "applied": "1", "theme": "t1"}),
    ("GET", f"/anonymisation/{BIG}", None),
    ("GET", f"/anonymisation/1?at={BIG}", None),
    ("POST", f"/anonymisation/{BIG}/events/1", {"action": "keep"}),
    ("POST", f"/anonymisation/1/events/{BIG}", {"action": "keep"}),
    ("POST", f"/anonymisation/{BIG}/mask", {"start": "0", "end": "4", "version": "x"}),
    ("POST", "/anonymisation/1/mask", {"start": BIG, "end": "4", "version": "x"}),
    ("POST", "/anonymisation/1/mask", {"start": "0", "end": BIG, "version": "x"}),
    ("POST", f"/anonymisation/{BIG}/release", {}),
]


@pytest.fixture
def client(project: object, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    fast_password_hashing(monkeypatch)
    with session_scope(sqlite_url) as db:
        seed_all(db, coders=2, leads=1)
        create_user(db, "keylead", PASSWORD, "lead", key_holder=True, actor="test")
    with session_scope(sqlite_url) as db:
        enqueue_suggestions(db)
        assign_blind_sample(db, get_settings().model_copy(update={"blind_share": 0.5}))
    load_keyring(get_settings())  # the key holder's pages need the key before they reach the database
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def test_every_integer_parameter_answers_422_for_a_huge_number_never_500(client: TestClient) -> None:
    token = logged_in(client, "keylead")
    answers = {}
    for method, url, form in REQUESTS:
        data = None if form is None else {**form, "csrf_token": token}
        response = client.request(method, url, data=data, headers={"X-CSRF-Token": token},
                                  follow_redirects=False)
        answers[(method, url, tuple(sorted((form or {}).items())))] = response.status_code
    assert all(status in (404, 422) for status in answers.values()), answers


def test_the_largest_id_is_a_plain_not_found(client: TestClient) -> None:
    """At the bound itself the request reaches the view, which says the row does not exist."""
    token = logged_in(client, "keylead")
    for url in (f"/anonymisation/{MAX_INT}", f"/review/items/{MAX_INT}"):
        assert client.get(url, follow_redirects=False).status_code in (403, 404), url
    unlock = client.post(f"/users/{MAX_INT}/unlock", data={"csrf_token": token}, follow_redirects=False)
    assert unlock.status_code == 404
    assert client.get(f"/review/items/{MAX_INT + 1}").status_code == 422
