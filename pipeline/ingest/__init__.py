"""Ingest: find transcripts in an inbox, read them into ``RawDocument``s, quarantine what cannot be read.

``RawDocument``s hold raw, identifying text and live in memory only; the anonymiser turns them into
what gets stored. Readers raise ``pipeline.errors.InputFileError`` whose ``reason`` is one line and
never contains file text.
"""

from pipeline.ingest.check import FileCheck, check_file, check_paths
from pipeline.ingest.metadata import read_metadata, sidecar_path
from pipeline.ingest.quarantine import quarantine
from pipeline.ingest.readers import READERS, Reader, discover, file_sha256, read_document, register_reader
from pipeline.ingest.speakers import assign_role, assign_roles
from pipeline.ingest.text import decode_text, parse_lines
from pipeline.ingest.types import RawDocument, RawTurn, ReadResult, Role

__all__ = [
    "READERS",
    "FileCheck",
    "RawDocument",
    "RawTurn",
    "ReadResult",
    "Reader",
    "Role",
    "assign_role",
    "assign_roles",
    "check_file",
    "check_paths",
    "decode_text",
    "discover",
    "file_sha256",
    "parse_lines",
    "quarantine",
    "read_document",
    "read_metadata",
    "register_reader",
    "sidecar_path",
]
