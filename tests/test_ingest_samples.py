"""Every SYNTHETIC sample in data/sample reads cleanly, and its companion files describe it truthfully."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.codebook import load_codebook
from pipeline.ingest import discover, read_document
from tests.conftest import CODEBOOK_PATH, REPO_ROOT, SAMPLE_DIR

SAMPLES = discover(SAMPLE_DIR)
FORMATS = {"txt": 6, "docx": 2, "vtt": 2, "srt": 1, "pdf": 1}


def _identifiers() -> dict[str, dict[str, list[str]]]:
    return json.loads((SAMPLE_DIR / "identifiers.json").read_text(encoding="utf-8"))["identifiers"]


def _full_text(path: Path) -> str:
    doc = read_document(path)
    return "\n".join([*doc.header, *(t.speaker or "" for t in doc.turns), *(t.text for t in doc.turns)])


def test_the_sample_set_is_complete() -> None:
    counts: dict[str, int] = {}
    for path in SAMPLES:
        counts[path.suffix.lstrip(".")] = counts.get(path.suffix.lstrip("."), 0) + 1
    assert counts == FORMATS
    assert sorted(_identifiers()) == sorted(p.name for p in SAMPLES)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_reads_cleanly(path: Path) -> None:
    doc = read_document(path)
    assert 25 <= len(doc.turns) <= 60, len(doc.turns)
    assert doc.metadata.get("synthetic") is True  # header marker, or the sidecar where the format has none
    if doc.kind == "interview":
        roles = {t.role for t in doc.turns}
        assert roles == {"interviewer", "participant"}, roles
        assert doc.turns[0].role == "interviewer"
    else:
        assert path.suffix == ".pdf" and all(t.speaker is None for t in doc.turns)
    if path.suffix in (".vtt", ".srt"):
        assert all(t.start_time is not None and t.end_time >= t.start_time for t in doc.turns)
    assert all("SYNTHETIC" not in t.text for t in doc.turns)  # the marker is header, never a turn


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_listed_identifier_is_really_planted(path: Path) -> None:
    text = _full_text(path)
    for kind, values in _identifiers()[path.name].items():
        for value in values:
            assert value in text, (kind, value)


def test_identifiers_do_not_collide_with_vocabulary() -> None:
    """No identifier may occur (whole word, any case) in the codebook or the domain terms, or the privacy
    test would flag vocabulary as a leak."""
    values = {v for types in _identifiers().values() for vs in types.values() for v in vs}
    terms = json.loads((SAMPLE_DIR / "domain_terms.json").read_text(encoding="utf-8"))["terms"]
    vocabulary = Path(CODEBOOK_PATH).read_text(encoding="utf-8") + "\n" + "\n".join(terms)
    for value in values:
        assert not re.search(r"(?<![\w])" + re.escape(value) + r"(?![\w])", vocabulary, re.IGNORECASE), value
    # file names are stored and logged: no identifier may hide in one
    assert [(v, p.name) for v in values for p in SAMPLES if len(v) >= 4 and v.lower() in p.name.lower()] == []


def test_domain_terms_occur_where_listed() -> None:
    terms = json.loads((SAMPLE_DIR / "domain_terms.json").read_text(encoding="utf-8"))["terms"]
    texts = {p.name: _full_text(p) for p in SAMPLES}
    for term, files in terms.items():
        assert files, term
        for name in files:
            assert re.search(r"(?<![\w])" + re.escape(term) + r"(?![\w])", texts[name]), (term, name)


def test_codes_from_every_theme_are_exercised_by_the_samples() -> None:
    """A light check that the samples are about what the codebook codes: each theme's vocabulary appears."""
    text = "\n".join(_full_text(p) for p in SAMPLES).lower()
    book = load_codebook(CODEBOOK_PATH)
    cues = {
        "prevalence": "referrals", "ideologies": "extreme right-wing", "influencers": "online",
        "vulnerabilities": "isolation", "pathways_referral": "mash", "thresholds": "threshold",
        "prevent_channel": "channel", "frameworks_approaches": "contextual safeguarding",
        "specialist_roles": "prevent champion", "multi_agency": "strategy meeting",
        "information_sharing": "need-to-know", "engaging_families": "joint visit", "training": "wrap",
        "advice_support": "group supervision", "confidence": "confident",
    }
    assert set(cues) == {theme.id for theme in book.themes}
    assert [theme for theme, cue in cues.items() if cue not in text] == []


def test_binary_samples_are_reproducible(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_samples.py"), "--out", str(tmp_path)],
        check=True, capture_output=True,
    )
    for built in sorted(tmp_path.iterdir()):
        committed = SAMPLE_DIR / built.name
        assert built.stat().st_size < 60 * 1024
        assert hashlib.sha256(built.read_bytes()).digest() == hashlib.sha256(committed.read_bytes()).digest(), (
            f"{built.name} differs from the committed sample: re-run scripts/make_samples.py and commit it"
        )
