"""Leak scanning: look for known identifiers (gold spans) in everything a qualcode project wrote.

Why this lives in the library rather than in ``bench/``: the same scanning is used by the measurement
``bench/leak_scan.py`` (every gold set through the real ``qualcode run``) and by the test
``tests/test_leak_scan.py`` (a tiny inline synthetic set), and ``bench/`` is not an importable package.
Nothing here is used at run time by the pipeline itself.

The rules follow the text mode of ``../shared/eval/uk_spoken/score.py``:

- a gold surface is found when it occurs as a whole token, case-insensitively; for surfaces with spaces or
  hyphens also in a "compacted" haystack (lower case, spaces and hyphens removed; at least 4 characters);
- occurrences that legitimately remain are discounted: the same string also occurs in an ORIGINAL text
  outside every gold span (e.g. "Summer holidays" beside a child called Summer). score.py compares counts
  per excerpt; a project's stores mix and repeat excerpts (turns, overlapping segments, exports), so here
  an occurrence is discounted when the string occurs outside the gold spans of the originals AND the
  occurrence shares its word before or after with such a legitimate occurrence. Placeholders next to a
  name therefore never make a leak disappear, and an ordinary word in its ordinary place is not a leak.

Reports carry counts, forms and excerpt ids only, never the surfaces themselves: a leak report must not leak.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Word characters as score.py defines them (ASCII letters, digits, Latin-1/Extended-A/B letters).
WORD = r"0-9A-Za-z\u00C0-\u024F"
_WORD_RE = re.compile(rf"[{WORD}]+")
_BLANK = "\x00"

#: Project gold types (bench/gold/*.jsonl) that identify a person on their own (uk_spoken's DIRECT).
DIRECT_TYPES = frozenset(
    {"PERSON", "ADDRESS", "PHONE", "EMAIL", "HANDLE", "POSTCODE", "NHS_NUMBER", "NI_NUMBER", "CASE_REF", "URL"}
)


@dataclass(frozen=True, slots=True)
class GoldDoc:
    """One original text with its DIRECT gold spans ``(start, end, form)``."""

    doc_id: str
    text: str
    spans: tuple[tuple[int, int, str], ...]


def compact(text: str) -> str:
    return re.sub(r"[\s\-]+", "", text.lower())


#: Surfaces this short (initials such as "TB") must not touch these either: in ids, tokens and base64 a
#: two-letter run between dashes or underscores is noise, not a speaker's initials.
SHORT = 3
_SHORT_EDGE = WORD + r"_\-+/=%"


def token_pattern(surface: str) -> re.Pattern[str]:
    edge = _SHORT_EDGE if len(compact(surface)) <= SHORT else WORD
    return re.compile(rf"(?<![{edge}]){re.escape(surface)}(?![{edge}])", re.IGNORECASE)


def docs_from_uk_spoken(rows: Iterable[dict]) -> list[GoldDoc]:
    """uk_spoken rows: spans are dicts with label/form; only DIRECT spans are kept."""
    return [
        GoldDoc(str(r["id"]), str(r["text"]),
                tuple((int(s["start"]), int(s["end"]), str(s["form"])) for s in r["spans"] if s["label"] == "DIRECT"))
        for r in rows
    ]


def docs_from_project_gold(rows: Iterable[dict]) -> list[GoldDoc]:
    """bench/gold rows: spans are ``[start, end, TYPE]``; DIRECT types only, the type (lower case) is the form."""
    return [
        GoldDoc(str(r["id"]), str(r["text"]),
                tuple((int(a), int(b), str(t).lower()) for a, b, t in r["spans"] if t in DIRECT_TYPES))
        for r in rows
    ]


@dataclass
class Surface:
    """A distinct gold string (case-insensitive), the forms it has and the excerpts it is gold in."""

    key: str
    surface: str
    forms: Counter = field(default_factory=Counter)
    doc_ids: set[str] = field(default_factory=set)
    pattern: re.Pattern[str] | None = None
    compacted: str | None = None
    #: (left word, right word) pairs around its occurrences outside gold spans in the originals.
    legit_left: set[str] = field(default_factory=set)
    legit_right: set[str] = field(default_factory=set)
    legit_compact: bool = False
    #: Its word tokens (lower case): all must be in a haystack for a whole-token match (a quick pre-check).
    tokens: frozenset[str] = frozenset()
    #: Also used outside every gold span in the originals (an ordinary word such as "will" or "joy").
    ordinary_word: bool = False

    @property
    def form(self) -> str:
        return self.forms.most_common(1)[0][0]


def _neighbours(text: str, start: int, end: int) -> tuple[str, str]:
    left = _WORD_RE.findall(text[max(0, start - 60):start])
    right = _WORD_RE.findall(text[end:end + 60])
    return (left[-1].lower() if left else ""), (right[0].lower() if right else "")


class GoldIndex:
    """Every DIRECT gold surface of a corpus, with its legitimate (non-gold) contexts in the originals."""

    def __init__(self, docs: list[GoldDoc], background: Iterable[str] = ()) -> None:
        """``background``: text the software brings itself (codebook, page templates): a gold word in the
        same context there is the software's word ("Will this code apply?"), not the transcript's."""
        self.docs = docs
        self.surfaces: dict[str, Surface] = {}
        self.span_count = 0
        for doc in docs:
            for start, end, form in doc.spans:
                raw = doc.text[start:end].strip()
                if len(raw) < 2 or not _WORD_RE.search(raw):
                    continue
                self.span_count += 1
                key = raw.lower()
                entry = self.surfaces.setdefault(key, Surface(key=key, surface=raw))
                entry.forms[form] += 1
                entry.doc_ids.add(doc.doc_id)
        blanked = [self._blank(doc) for doc in docs]
        blank_compact = "\n".join(compact(b) for b in blanked)
        for entry in self.surfaces.values():
            entry.pattern = token_pattern(entry.surface)
            entry.tokens = frozenset(t.lower() for t in _WORD_RE.findall(entry.surface))
            if re.search(r"[\s\-]", entry.surface) and len(compact(entry.surface)) >= 4:
                entry.compacted = compact(entry.surface)
                entry.legit_compact = entry.compacted in blank_compact
            for text in blanked:
                for m in entry.pattern.finditer(text):
                    left, right = _neighbours(text, m.start(), m.end())
                    entry.legit_left.add(left)
                    entry.legit_right.add(right)
            entry.ordinary_word = bool(entry.legit_left or entry.legit_right)
        for text in background:
            for entry in self.surfaces.values():
                assert entry.pattern is not None
                for m in entry.pattern.finditer(text):
                    left, right = _neighbours(text, m.start(), m.end())
                    entry.legit_left.add(left)
                    entry.legit_right.add(right)

    @staticmethod
    def _blank(doc: GoldDoc) -> str:
        chars = list(doc.text)
        for start, end, _form in doc.spans:
            for i in range(start, end):
                chars[i] = _BLANK
        return "".join(chars)

    def scan(self, haystack: str, *, binary: bool = False) -> dict[str, int]:
        """Leaked (not discounted) occurrences per surface key in one haystack.

        ``binary``: the text runs of a binary file (SQLite pages). There a surface of up to ``SHORT``
        characters counts only as written in the gold and set off by spaces or punctuation: bytes of record
        headers next to a text field otherwise spell "initials" by chance."""
        hits: dict[str, int] = {}
        lowered_compact: str | None = None
        words = {t.lower() for t in _WORD_RE.findall(haystack)}
        for key, entry in self.surfaces.items():
            assert entry.pattern is not None
            n = 0
            pattern = entry.pattern
            if binary and len(compact(entry.surface)) <= SHORT:
                pattern = re.compile(rf"(?<![^\s\"'(\[]){re.escape(entry.surface)}(?=[\s,.:;!?)\"'\]]|$)")
            matches = pattern.finditer(haystack) if entry.tokens <= words else ()
            for m in matches:
                left, right = _neighbours(haystack, m.start(), m.end())
                if (entry.legit_left or entry.legit_right) and (
                    left in entry.legit_left or right in entry.legit_right
                ):
                    continue
                n += 1
            if not n and entry.compacted and not entry.legit_compact:
                if lowered_compact is None:
                    lowered_compact = compact(haystack)
                n = lowered_compact.count(entry.compacted)
            if n:
                hits[key] = n
        return hits


@dataclass
class LeakReport:
    """Hits per place: distinct surfaces and occurrences, by form, with the excerpt ids (never surfaces)."""

    index: GoldIndex
    places: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    scanned: Counter = field(default_factory=Counter)

    def add(self, place: str, haystack: str, *, binary: bool = False) -> None:
        if not haystack:
            return
        self.scanned[place] += 1
        for key, n in self.index.scan(haystack, binary=binary).items():
            self.places[place][key] = self.places[place].get(key, 0) + n

    def hits(self, place: str) -> int:
        return len(self.places.get(place, {}))

    def total_hits(self, prefix: str = "") -> int:
        return sum(len(v) for p, v in self.places.items() if p.startswith(prefix))

    def as_dict(self, with_ids: bool = False) -> dict[str, object]:
        out: dict[str, object] = {}
        for place in sorted(set(self.scanned) | set(self.places)):
            found = self.places.get(place, {})
            by_form: Counter = Counter()
            occ_by_form: Counter = Counter()
            ordinary = 0
            ids: list[dict[str, str]] = []
            for key, n in found.items():
                entry = self.index.surfaces[key]
                by_form[entry.form] += 1
                occ_by_form[entry.form] += n
                ordinary += entry.ordinary_word
                if with_ids:
                    ids.extend({"id": d, "form": entry.form} for d in sorted(entry.doc_ids))
            row: dict[str, object] = {
                "haystacks": self.scanned.get(place, 0),
                "surfaces_found": len(found),
                "occurrences": sum(found.values()),
                "of_which_ordinary_words": ordinary,
                "surfaces_by_form": dict(sorted(by_form.items())),
                "occurrences_by_form": dict(sorted(occ_by_form.items())),
            }
            if with_ids:
                row["excerpts"] = ids
            out[place] = row
        return out


# ----------------------------------------------------------------------------------- what to read

_TAG = re.compile(r"<[^>]*>")
_ATTR = re.compile(r"""=\s*(?:"([^"]*)"|'([^']*)')""")


def html_text(page: str) -> str:
    """What a page carries: its text and its attribute values (titles, data-*), without tag names (the
    ``<mark>`` element is not a person called Mark), entities decoded."""

    def tag(m: re.Match[str]) -> str:
        values = [a or b for a, b in _ATTR.findall(m.group(0))]
        return " " + " ".join(v for v in values if v) + " "

    return html.unescape(_TAG.sub(tag, page))


def database_texts(url: str) -> Iterator[tuple[str, str]]:
    """``("db.<table>", text)`` for every row: every text or JSON column, never encrypted (binary) ones."""
    from sqlalchemy import JSON, LargeBinary, String, Text, select

    from pipeline.store import session_scope
    from pipeline.store.models import Base

    with session_scope(url) as session:
        for table in Base.metadata.sorted_tables:
            cols = [
                c for c in table.columns
                if not isinstance(c.type, LargeBinary) and isinstance(c.type, String | Text | JSON)
            ]
            if not cols:
                continue
            for row in session.execute(select(*cols)).all():
                parts = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in row if v is not None]
                yield f"db.{table.name}", "\n".join(parts)


#: In a binary file (SQLite pages, WAL), text is looked for only in runs of this many text-like characters:
#: decoded float vectors and hashes otherwise spell two-letter "initials" by chance.
MIN_BINARY_RUN = 16
_TEXT_RUN = re.compile(rf"[\t\n\x20-\x7e\u00a0-\u024f\u2018-\u201d\u2026]{{{MIN_BINARY_RUN},}}")


def is_binary(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\x00" in data


def _decode(data: bytes) -> str:
    """A text file whole; a binary one as its text-like runs (one a line)."""
    if not is_binary(data):
        return data.decode("utf-8")
    return "\n".join(_TEXT_RUN.findall(data.decode("utf-8", errors="ignore")))


def file_texts(path: Path) -> Iterator[tuple[str, bool]]:
    """``(text, binary)`` of a file (a zip archive, e.g. .qdpx or .docx, member by member)."""
    data = path.read_bytes()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                member = archive.read(name)
                yield name + "\n" + _decode(member), is_binary(member)
        return
    yield _decode(data), is_binary(data)


def tree_texts(root: Path, skip: Iterable[Path] = ()) -> Iterator[tuple[Path, str, bool]]:
    """Every file under ``root`` (its relative path is scanned too: file names are personal data)."""
    skipped = [p.resolve() for p in skip]
    if not root.exists():
        return
    for path in sorted(root.rglob("*")):
        resolved = path.resolve()
        if any(resolved == s or s in resolved.parents for s in skipped):
            continue
        if path.is_file():
            rel = str(path.relative_to(root))
            for text, binary in file_texts(path):
                yield path, rel + "\n" + text, binary
