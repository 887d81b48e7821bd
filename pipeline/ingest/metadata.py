"""Sidecar metadata: ``NAME.meta.yaml`` next to a transcript, or a folder-level ``metadata.csv``.

Why sidecars: site (local authority) code, participant role and interview date drive per-site reporting
and agreement, but must not be typed into the transcript itself. Known keys are validated
(``interview_date`` must be an ISO date); other keys are kept as plain values. When both exist, the
YAML sidecar (about one file) overrides the CSV row (about a folder).

Sidecars are metadata, not transcript text: they are stored as given, so they must not hold names or
other identifiers (``data/README.md`` says so). Errors name the sidecar and the line or row, never a
value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import InputFileError
from pipeline.ingest.paths import read_small_regular
from pipeline.settings import Settings

SIDECAR_SUFFIX = ".meta.yaml"
FOLDER_METADATA = "metadata.csv"
KNOWN_KEYS = ("site_code", "participant_role", "interview_date")
_MAX_SIDECAR_BYTES = 1024 * 1024


def sidecar_path(path: Path) -> Path:
    """``interview_03.txt`` -> ``interview_03.meta.yaml`` (the per-file sidecar, whether it exists or not)."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((SIDECAR_SUFFIX, ".meta.yml")) or name == FOLDER_METADATA


def _read_small(transcript: Path, sidecar: Path, settings: Settings | None) -> str:
    """A sidecar's text, opened like a transcript: a link, FIFO or the key file is refused, never read."""
    try:
        return read_small_regular(sidecar, _MAX_SIDECAR_BYTES, settings).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(transcript, f"metadata {sidecar.name} is not UTF-8") from None
    except InputFileError as exc:
        raise InputFileError(transcript, f"metadata {sidecar.name}: {exc.reason}") from None


def _clean_value(transcript: Path, where: str, key: str, value: Any) -> Any:
    if key == "interview_date":
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise InputFileError(transcript, f"metadata {where}: interview_date must be an ISO date (YYYY-MM-DD)")
    if key in ("site_code", "participant_role"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InputFileError(transcript, f"metadata {where}: {key} must be text")
        text = str(value).strip()
        limit = 50 if key == "site_code" else 100
        if len(text) > limit:
            raise InputFileError(transcript, f"metadata {where}: {key} is longer than {limit} characters")
        return text or None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InputFileError(transcript, f"metadata {where}: {key} must be a plain value (text, number or date)")


def _from_yaml(transcript: Path, sidecar: Path, settings: Settings | None = None) -> dict[str, Any]:
    text = _read_small(transcript, sidecar, settings)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark else ""
        raise InputFileError(transcript, f"metadata {sidecar.name}{line}: invalid YAML") from None
    except yaml.YAMLError:
        raise InputFileError(transcript, f"metadata {sidecar.name}: invalid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or node is None:
        raise InputFileError(transcript, f"metadata {sidecar.name} line 1: must be a mapping of key: value")
    lines = {
        key_node.value: key_node.start_mark.line + 1
        for key_node, _ in node.value
        if isinstance(key_node, yaml.ScalarNode)
    }
    result: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise InputFileError(transcript, f"metadata {sidecar.name}: keys must be text")
        where = f"{sidecar.name} line {lines.get(key, '?')}"
        result[key.strip()] = _clean_value(transcript, where, key.strip(), value)
    return result


def _from_csv(transcript: Path, table: Path, settings: Settings | None = None) -> dict[str, Any]:
    text = _read_small(transcript, table, settings)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        fields = [name.strip() for name in reader.fieldnames or []]
        if "file" not in fields:
            raise InputFileError(transcript, f"metadata {table.name} row 1: needs a 'file' column")
        reader.fieldnames = fields
        found: dict[str, Any] | None = None
        for row in reader:
            row_number = reader.line_num
            if None in row:
                raise InputFileError(transcript, f"metadata {table.name} row {row_number}: more cells than columns")
            name = (row.get("file") or "").strip()
            if name not in (transcript.name, transcript.stem):
                continue
            if found is not None:
                raise InputFileError(transcript, f"metadata {table.name} row {row_number}: second row for this file")
            where = f"{table.name} row {row_number}"
            found = {
                key: _clean_value(transcript, where, key, (value or "").strip() or None)
                for key, value in row.items()
                if key != "file" and key
            }
    except csv.Error:
        raise InputFileError(transcript, f"metadata {table.name}: malformed CSV") from None
    return {k: v for k, v in (found or {}).items() if v is not None}


def read_metadata(path: Path, settings: Settings | None = None) -> dict[str, Any]:
    """Metadata for one transcript from its folder's ``metadata.csv`` and its own ``.meta.yaml``.

    Returns ``{}`` when there is no sidecar. Raises ``InputFileError`` (on the transcript's path, so the
    batch quarantines it with its sidecar) naming the sidecar and line or row when one is invalid. A
    sidecar that is a symbolic link (or FIFO, device, hard link, the key file) is refused, never read.
    """
    metadata: dict[str, Any] = {}
    table = path.parent / FOLDER_METADATA
    if os.path.lexists(table):  # lexists: a link is not skipped as missing, it is refused
        metadata.update(_from_csv(path, table, settings))
    for candidate in (sidecar_path(path), path.with_name(path.stem + ".meta.yml")):
        if os.path.lexists(candidate):
            metadata.update(_from_yaml(path, candidate, settings))
            break
    return metadata
