"""Ingest: find transcripts in an inbox, read them into ``RawDocument``s, quarantine what cannot be read.

``RawDocument``s hold raw, identifying text and live in memory only; the anonymiser turns them into
what gets stored. Files are listed and opened without following links (``paths``) and refused over
the size limits (``limits``); see SECURITY.md. Readers raise ``pipeline.errors.InputFileError`` whose
``reason`` is one line and never contains file text.
"""

from pipeline.ingest.check import FileCheck, check_file, check_paths
from pipeline.ingest.limits import check_text, check_turns
from pipeline.ingest.metadata import read_metadata, sidecar_path
from pipeline.ingest.paths import Refusal, hash_regular, open_regular, read_regular
from pipeline.ingest.quarantine import quarantine
from pipeline.ingest.readers import (
    READERS,
    InboxScan,
    Reader,
    discover,
    file_sha256,
    read_document,
    register_reader,
    scan_inbox,
)
from pipeline.ingest.speakers import assign_role, assign_roles
from pipeline.ingest.text import decode_text, parse_lines
from pipeline.ingest.types import RawDocument, RawTurn, ReadResult, Role

__all__ = [
    "READERS",
    "FileCheck",
    "InboxScan",
    "RawDocument",
    "RawTurn",
    "ReadResult",
    "Reader",
    "Refusal",
    "Role",
    "assign_role",
    "assign_roles",
    "check_file",
    "check_paths",
    "check_text",
    "check_turns",
    "decode_text",
    "discover",
    "file_sha256",
    "hash_regular",
    "open_regular",
    "parse_lines",
    "quarantine",
    "read_document",
    "read_metadata",
    "read_regular",
    "register_reader",
    "scan_inbox",
    "sidecar_path",
]
