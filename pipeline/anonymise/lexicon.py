"""What a word is likely to be: a person's name, an ordinary English word, or neither.

Why data packages rather than hand lists: the old gazetteers knew a few hundred names, and every name
outside them survived. Recall-first anonymisation asks the opposite question of every token ("is this
known to be safe?"), and the answer has to come from well-kept data that covers names of every origin
found in UK casework:

- ``names-dataset`` (first names and surnames from 106 countries, each with its rank per country),
  reduced here to two ranks per name: in Great Britain and the best in any country;
- ``wordfreq`` (English word frequencies on the Zipf scale: 6 = "will", 4 = "joy", 2 = "linnet");
- ``english-words`` (Webster's second edition word list, case kept: "linnet" is a common noun there,
  "Sandra" only a proper one), which tells a rare word from a rare name.

names-dataset loads 2 GB of Python objects from its pickles; the reduced table (a few MB of JSON) is
built once from the installed package and cached under ``$XDG_CACHE_HOME/qualcode`` (or ``~/.cache``),
keyed by the package version, so a worker process loads it in well under a second. The table holds
public name statistics only, never text from a transcript.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

#: A name ranked beyond this in every country is too rare to count as evidence on its own.
MAX_WORLD_RANK = 4_000
#: A name's expected Zipf frequency from its rank: 5.6 at rank 1, 0.9 less per tenfold rank.
NAME_ZIPF_AT_RANK_1 = 5.6
NAME_ZIPF_PER_DECADE = 0.9
#: Table format; bump when the reduction changes.
FORMAT = 1


def fold(word: str) -> str:
    """Case-folded, with accents removed ("Róisín" -> "roisin"), so spellings with and without meet."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def cache_dir() -> Path:
    base = os.environ.get("QUALCODE_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return (root if os.environ.get("QUALCODE_CACHE_DIR") else root / "qualcode").expanduser()


def _reduce(entries: dict[str, dict]) -> dict[str, list[int]]:
    """name -> [rank in GB (0 = unranked), best rank anywhere] for single-word names worth knowing."""
    out: dict[str, list[int]] = {}
    for name, info in entries.items():
        if " " in name or len(name) < 2:
            continue
        ranks = (info or {}).get("rank") or {}
        ranks = {k: v for k, v in ranks.items() if isinstance(v, int)}
        if not ranks:
            continue
        gb = ranks.get("GB", 0)
        best = min(ranks.values())
        if not gb and best > MAX_WORLD_RANK:
            continue
        key = fold(name)
        if not key.replace("'", "").replace("-", "").isalpha():
            continue
        old = out.get(key)
        if old is None:
            out[key] = [gb, best]
        else:
            old[0] = min(x for x in (old[0], gb) if x) if (old[0] or gb) else 0
            old[1] = min(old[1], best)
    return out


def build_table() -> dict[str, object]:
    """Reduce names-dataset's pickles to the table (slow: ~10 s and 2 GB once; cached afterwards)."""
    import pickle  # names-dataset ships its data as pickles inside the installed package
    from importlib import resources

    data = resources.files("names_dataset").joinpath("v3")
    tables = {}
    for kind in ("first", "last"):
        with data.joinpath(f"{kind}_names.pkl.gz").open("rb") as raw, gzip.open(raw) as handle:
            tables[kind] = _reduce(pickle.load(handle))  # noqa: S301 - trusted installed package data
    return {"format": FORMAT, "names_dataset": _version(), **tables}


def _version() -> str:
    try:
        return metadata.version("names-dataset")
    except metadata.PackageNotFoundError:  # pragma: no cover - it is a dependency
        return "missing"


def _table_path() -> Path:
    return cache_dir() / f"names-{_version()}-f{FORMAT}.json.gz"


def load_table() -> dict[str, object]:
    """The cached table, built (atomically: temp file then rename) when missing or unreadable."""
    path = _table_path()
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            table = json.load(handle)
        if table.get("format") == FORMAT:
            return table
    except (OSError, ValueError, EOFError):
        pass
    table = build_table()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError as exc:  # a read-only home: work from memory, build again next time
        log.warning("name table not cached (%s); set QUALCODE_CACHE_DIR to a writable folder", type(exc).__name__)
        return table
    try:
        with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as handle:
            json.dump(table, handle, separators=(",", ":"))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return table


@dataclass(frozen=True, slots=True)
class NameInfo:
    """How a folded word ranks as a first name and as a surname (0 = not ranked there)."""

    first_gb: int = 0
    first_best: int = 0
    last_gb: int = 0
    last_best: int = 0

    @property
    def known(self) -> bool:
        return bool(self.first_best or self.last_best)

    def uk_rank(self) -> int:
        """The better of its GB ranks (0 when it is not ranked in Great Britain)."""
        ranks = [r for r in (self.first_gb, self.last_gb) if r]
        return min(ranks) if ranks else 0

    def best_rank(self) -> int:
        ranks = [r for r in (self.first_best, self.last_best) if r]
        return min(ranks) if ranks else 0


class Lexicon:
    """Name ranks and word frequencies for one process (see the module docstring)."""

    def __init__(self, first: dict[str, list[int]], last: dict[str, list[int]]) -> None:
        self._first = first
        self._last = last

    def __repr__(self) -> str:
        return f"Lexicon(first={len(self._first)}, last={len(self._last)})"

    def name(self, word: str) -> NameInfo:
        key = fold(word)
        f = self._first.get(key, (0, 0))
        last = self._last.get(key, (0, 0))
        return NameInfo(f[0], f[1], last[0], last[1])

    @staticmethod
    def zipf(word: str) -> float:
        """English frequency on the Zipf scale (0 = never seen; 3 = once per million words)."""
        return _zipf(word.casefold())

    @staticmethod
    def dictionary_word(word: str) -> bool:
        """True when the dictionary lists the word in lower case (a common word, not only a proper noun)."""
        return word.casefold() in _dictionary()

    def word_excess(self, word: str) -> float | None:
        """How much more frequent the string is than a name of its rank would be (None: not a name).

        Why: wordfreq counts "Kyle" the person and "joy" the feeling alike. A name's frequency follows its
        rank (a top-100 name is about Zipf 3.8); a string far more frequent than its rank predicts is
        mostly used as a word ("will", "hope", "court"), one close to it mostly as a name ("leanne").
        """
        info = self.name(word)
        rank = info.uk_rank() or (info.best_rank() * 10 if info.best_rank() else 0)
        if not rank:
            return None
        return self.zipf(word) - (NAME_ZIPF_AT_RANK_1 - NAME_ZIPF_PER_DECADE * math.log10(rank))


@lru_cache(maxsize=200_000)
def _zipf(folded: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(folded, "en")


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    """The lower-case entries of Webster's second edition (english-words' ``web2``)."""
    from english_words import get_english_words_set

    return frozenset(w for w in get_english_words_set(["web2"], alpha=True) if w.islower())


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The process-wide lexicon (cached table; built from names-dataset on first use on a machine)."""
    table = load_table()
    return Lexicon(table["first"], table["last"])  # type: ignore[arg-type]
