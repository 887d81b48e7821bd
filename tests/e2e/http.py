"""HTTP helpers for driving the web app in tests (log-in with CSRF, reading the current review item)."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from tests.e2e.seed import PASSWORD


def page_token(html: str) -> str:
    match = re.search(r'name="csrf(?:-token|_token)" (?:content|value)="([^"]+)"', html)
    assert match, "page carries a CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    token = page_token(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                       "next": "/review"}, follow_redirects=False)


def logged_in(client: TestClient, username: str) -> str:
    response = login(client, username)
    assert response.status_code == 303, response.text
    return page_token(client.get("/review").text)


def current_item(html: str) -> tuple[int, int, str]:
    item = re.search(r'data-item="(\d+)" data-kind="(\w+)"', html)
    version = re.search(r'name="version" value="(\d+)"', html)
    assert item and version
    return int(item.group(1)), int(version.group(1)), item.group(2)
