"""Deterministic GUIDs for REFI-QDA objects.

Why name-based (UUID version 5) GUIDs rather than random ones: a lead exports the same project many times
while coding goes on, and wants two exports to diff cleanly and a QDA package to recognise a re-imported
code or source as the same object. A GUID is therefore a pure function of what the object *is*: a coder's
name, a code's key, a transcript's content hash, a segment's offsets. Nothing about the export run (time,
row ids that differ between databases) goes in.

The inputs are identifiers, never transcript text, and UUID5 is a one-way hash, so the GUIDs reveal
nothing about the transcripts.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

#: Fixed namespace for every qualcode REFI-QDA GUID (itself uuid5 of the URL namespace and a constant).
QUALCODE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qualcode:refi-qda")


def guid(kind: str, *parts: object) -> str:
    """The GUID of a ``kind`` of object identified by ``parts`` (upper-case, hyphenated).

    ``kind`` keeps the spaces apart: a code and a coder both called ``risk`` get different GUIDs.
    Parts are joined with a unit separator that cannot occur in keys, names or numbers. Upper case as
    ATLAS.ti and ``pipeline.codebook.refi`` write them, so one project file does not mix both cases.
    """
    name = "\x1f".join([kind, *(str(p) for p in parts)])
    return str(uuid.uuid5(QUALCODE_NAMESPACE, name)).upper()


@lru_cache(maxsize=1024)
def user_guid(coder: str) -> str:
    """Stable per coder name, so a coder is the same REFI user in every export (cached: one per coding)."""
    return guid("user", coder)


def theme_guid(theme_key: str) -> str:
    return guid("theme", theme_key)


def code_guid(code_key: str) -> str:
    return guid("code", code_key)


def source_guid(content_hash: str) -> str:
    """Keyed by the transcript's content hash, which is the same in every database that ingested it."""
    return guid("source", content_hash)


def source_file_guid(content_hash: str) -> str:
    """The name of the source's text file inside ``Sources/`` (distinct from the source's own GUID)."""
    return guid("source-text", content_hash)


def selection_guid(content_hash: str, start: int, end: int) -> str:
    return guid("selection", content_hash, start, end)


def coding_guid(content_hash: str, start: int, end: int, code_key: str, coder: str, source: str) -> str:
    return guid("coding", content_hash, start, end, code_key, coder, source)


def note_guid(coding_key: str) -> str:
    """A coder's note on one coding: keyed by that coding's GUID."""
    return guid("note", coding_key)


def variable_guid(name: str) -> str:
    return guid("variable", name)


def case_guid(variable: str, value: str) -> str:
    return guid("case", variable, value)
