"""Nicknames people make from a name: "Wilkinson" -> "Wilko", "Sharon" -> "Shazza", "Radoslaw" -> "Big Rado".

Why rules rather than a list: the nickname list in ``data/nicknames.yaml`` only knows the first names it
was written for, while UK speech makes nicknames from ANY name, surnames included, by a handful of
productive rules: cut the name after its first syllable (or its first 3-4 letters), change a sound
(r -> z/zz, s -> z, th -> f) and add one of a few endings (-o, -y, -ie, -a, -s, -sy, -ers, -ski, -zza) or
double the syllable ("Kiki"). Once a name has been detected, its derived forms are cheap evidence that
another token refers to the same person.

Precision: a derived form that is also a common English word ("rob", "pal", "bill", "mark") counts only
when written with a capital and not at the start of a sentence; function words ("he", "her") never count.
Pure functions, no spaCy: ``NicknameIndex`` is built once per document (or project) and looked up per token.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from wordfreq import zipf_frequency

__all__ = ["NicknameIndex", "derived_forms", "fold", "nickname_of"]

#: Zipf frequency from which a form may be an English word ("cuppa", "wily"): it then needs a capital.
RARE_ZIPF = 2.5
#: Zipf frequency from which a form is a common English word ("rob", "pal"): it then needs a capital
#: and must not open a sentence.
COMMON_ZIPF = 3.0
#: Lower threshold for forms that end like English plurals and agent nouns ("robbers", "pavers").
COMMON_ZIPF_INFLECTED = 2.0
_INFLECTED = ("s", "er", "ers", "ster")
#: Zipf frequency from which a form is a function word ("he", "her", "was"): never a nickname.
FUNCTION_ZIPF = 6.0
#: Shortest derived form; two-letter forms ("He", "Da") are too often ordinary words or syllables.
MIN_LENGTH = 3

_VOWELS = frozenset("aeiouy")
#: Consonant clusters that may open an English (or Welsh) syllable; used when the first vowel is dropped
#: ("Elizabeth" -> "Liz", "Alexander" -> "Lex").
_ONSETS = frozenset(
    {
        "b",
        "c",
        "d",
        "f",
        "g",
        "h",
        "j",
        "k",
        "l",
        "m",
        "n",
        "p",
        "r",
        "s",
        "t",
        "v",
        "w",
        "z",
        "x",
        "bl",
        "br",
        "ch",
        "cl",
        "cr",
        "dr",
        "fl",
        "fr",
        "gl",
        "gr",
        "kl",
        "kr",
        "ph",
        "pl",
        "pr",
        "sc",
        "sh",
        "sk",
        "sl",
        "sm",
        "sn",
        "sp",
        "st",
        "sw",
        "th",
        "tr",
        "tw",
        "wh",
        "ll",
        "ff",
        "dd",
    }
)
#: Spellings of one vowel sound that nicknames simplify ("Keira" -> "Kiki", "Laura" -> "Lozza").
_NUCLEUS_VARIANTS: dict[str, tuple[str, ...]] = {
    "ee": ("i", "e"),
    "ea": ("e", "i"),
    "ei": ("i", "e"),
    "ie": ("i", "e"),
    "ey": ("e",),
    "ai": ("a",),
    "ay": ("a",),
    "au": ("o", "a"),
    "aw": ("o",),
    "oa": ("o",),
    "ou": ("o", "u"),
    "oo": ("u",),
    "oi": ("o",),
    "oy": ("o",),
    "y": ("i",),
}
#: Endings added to a closed first syllable ("Wilk-o", "Fitz-y", "Mad-s", "Rob-ski").
_ENDINGS = ("o", "y", "ie", "a", "s", "sy", "er", "ers", "ster", "ski")
#: Endings after which a single final consonant doubles ("Rob" -> "Robbo", "Shaz" -> "Shazza").
_DOUBLING = frozenset({"o", "y", "ie", "a", "er", "ers"})
_NO_DOUBLE = frozenset("hwxyjq")
_POSSESSIVE = re.compile(r"['’]s?$")
#: Words before a bare initial that make it a name ("Auntie M", "Nurse F", "Big J").
INITIAL_CONTEXT = frozenset(
    {
        "auntie",
        "aunty",
        "aunt",
        "uncle",
        "nurse",
        "nan",
        "nana",
        "nanna",
        "grandma",
        "grandad",
        "big",
        "little",
        "lil",
        "miss",
        "mr",
        "mrs",
        "ms",
        "sir",
        "coach",
        "cousin",
        "bro",
        "sis",
        "doctor",
        "dr",
    }
)


def fold(word: str) -> str:
    """Case-folded, without accents or a possessive: "Róisín's" -> "roisin"."""
    word = _POSSESSIVE.sub("", word.strip())
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _is_vowel(word: str, i: int) -> bool:
    ch = word[i]
    if ch == "y":
        return i > 0 and word[i - 1] not in _VOWELS  # "Yusuf": y opens; "Kylie": y is the vowel
    return ch in _VOWELS


def _first_syllable(word: str) -> tuple[str, str, str, str]:
    """(onset, nucleus, coda, rest) of the first syllable; the coda is every consonant up to the next vowel."""
    n = len(word)
    i = 0
    while i < n and not _is_vowel(word, i):
        i += 1
    onset = word[:i]
    if onset.endswith("q") and i < n and word[i] == "u":
        onset, i = onset + "u", i + 1  # "Quentin": "qu" opens the syllable
    j = i
    while j < n and _is_vowel(word, j) and (j == i or word[i : j + 1] in _NUCLEUS_VARIANTS or word[j] == word[i]):
        j += 1
    k = j
    while k < n and not _is_vowel(word, k):
        k += 1
    return onset, word[i:j], word[j:k], word[k:]


def _nuclei(nucleus: str) -> tuple[str, ...]:
    return (nucleus, *_NUCLEUS_VARIANTS.get(nucleus, ()))


def _sound_changes(stem: str) -> set[str]:
    """The stem with the sound changes nicknames make: final r -> z/zz ("Shar" -> "Shaz"), s -> z ("Ros" ->
    "Roz"), th -> f ("Arth" -> "Arf"), c -> ck before an ending is handled by doubling."""
    out = {stem}
    base = stem.rstrip("r")
    if base != stem and base:
        out.update({base + "z", base + "zz"})
    if "s" in stem[1:]:
        out.add(stem[0] + stem[1:].replace("s", "z"))
    if "th" in stem:
        out.add(stem.replace("th", "f"))
    return out


def _with_endings(stem: str) -> set[str]:
    """A closed stem with every ending, doubling a single final consonant where English does."""
    out = {stem}
    last = stem[-1]
    single = last not in _VOWELS and last not in _NO_DOUBLE and (len(stem) < 2 or stem[-2] in _VOWELS)
    for ending in _ENDINGS:
        out.add(stem + ending)
        if single and ending in _DOUBLING:
            out.update(stem + double + ending for double in (("c", "k") if last == "c" else (last,)))
    if stem.endswith("zz"):
        out.update({stem[:-1] + "a", stem[:-1] + "o"})
    return out


@lru_cache(maxsize=4096)
def derived_forms(name: str) -> frozenset[str]:
    """Every nickname form derivable from ``name`` (case-folded, accents removed; the name itself excluded).

    Rules (each is tested separately): truncation after the first syllable and to the first 3-4 letters;
    dropping an initial vowel ("Liz"); sound changes (r -> z/zz, s -> z, th -> f, also in the whole name:
    "Arfur"); endings -o/-y/-ie/-a/-s/-sy/-er/-ers/-ster/-ski with doubling ("Robbo"), so r -> zz gives
    "Shazza"; back clipping ("Beth", "Tunde"); reduplication of the open first syllable ("Kiki").
    """
    word = fold(name)
    if len(word) < MIN_LENGTH or not word.isalpha():
        return frozenset()
    stems: set[str] = set()
    open_syllables: set[str] = set()
    starts = [word]
    if word[0] in _VOWELS and len(word) > 4:
        tail_onset = _first_syllable(word[1:])[0]
        if tail_onset in _ONSETS:
            starts.append(word[1:])  # "Elizabeth" -> "lizabeth" -> "Liz"
    for start in starts:
        onset, nucleus, coda, rest = _first_syllable(start)
        if not nucleus:
            continue
        for vowel in _nuclei(nucleus):
            if onset:
                open_syllables.add(onset + vowel)
            for k in range(1, min(len(coda), 3) + 1):
                if rest or k < len(coda):  # a cut, not the whole name
                    stems.add(onset + vowel + coda[:k])
            if not coda and rest:
                stems.add(onset + vowel)
        if start is word:
            for length in (3, 4):
                if len(word) > length:
                    stems.add(word[:length])
    forms: set[str] = set()
    for stem in stems:
        for changed in _sound_changes(stem):
            if changed[-1] in _VOWELS:
                forms.add(changed)
            else:
                forms.update(_with_endings(changed))
    for syllable in open_syllables:
        if len(syllable.rstrip("aeiouy")) == 1:
            forms.add(syllable * 2)  # "Kiki", "Jojo"
    if len(word) >= 7:
        # Back clipping, the last syllables from a consonant before a vowel: "Elizabeth" -> "Beth",
        # "Isabella" -> "Bella", "Babatunde" -> "Tunde", "Oluwaseun" -> "Seun".
        for length in (4, 5):
            tail = word[-length:]
            if tail[0] not in _VOWELS and tail[1] in _VOWELS and word[-length - 1] in _VOWELS | {tail[0]}:
                forms.add(tail)
    if "th" in word:
        forms.add(word.replace("th", "f"))  # "Arthur" -> "Arfur"
    forms.discard(word)
    return frozenset(
        f for f in forms if len(f) >= MIN_LENGTH and any(ch in _VOWELS for ch in f) and _zipf(f) < FUNCTION_ZIPF
    )


@lru_cache(maxsize=65536)
def _zipf(form: str) -> float:
    return zipf_frequency(form, "en")


@lru_cache(maxsize=65536)
def is_common_word(form: str) -> bool:
    """True when ``form`` is a common English word ("rob", "pal"): it then needs a capital or context."""
    folded = fold(form)
    zipf = _zipf(folded)
    return zipf >= COMMON_ZIPF or (folded.endswith(_INFLECTED) and zipf >= COMMON_ZIPF_INFLECTED)


class NicknameIndex:
    """Derived forms of a set of detected names, built once; ``lookup`` is one dict access per token.

    Why an index: the anonymiser asks about every word of a transcript, so the forms of each name are
    derived once, and the (slow) word-frequency check is made per distinct form, not per token.
    """

    __slots__ = ("_forms", "_initials", "_names")

    def __init__(self, names: Iterable[str]) -> None:
        self._names: dict[str, str] = {}
        for name in names:
            folded = fold(name)
            if folded and folded.isalpha():
                self._names.setdefault(folded, name)
        by_form: dict[str, list[str]] = {}
        for folded in sorted(self._names):
            for form in derived_forms(folded):
                by_form.setdefault(form, []).append(folded)
        # A detected name is a name, not a nickname of another; which owner a form belongs to is decided
        # only for forms that occur (``lookup``).
        self._forms: dict[str, list[str]] = {
            form: owners for form, owners in by_form.items() if form not in self._names
        }
        # Whether a form is a (possible) word is asked only of forms that occur: see ``lookup``.
        initials: dict[str, list[str]] = {}
        for folded in self._names:
            initials.setdefault(folded[0], []).append(folded)
        self._initials = {letter: owners[0] for letter, owners in initials.items() if len(owners) == 1}

    def __len__(self) -> int:
        return len(self._forms)

    def __repr__(self) -> str:  # names are identifying: never show them
        return f"NicknameIndex(names={len(self._names)}, forms={len(self._forms)})"

    def lookup(self, token: str, *, previous: str | None = None, sentence_start: bool = False) -> str | None:
        """The detected name ``token`` is a derived form of (as it was given), or None.

        ``previous`` is the word before the token: a bare capital initial counts after "Auntie", "Nurse",
        "Big" ... when exactly one detected name starts with it ("Auntie M"). A form that is a common word
        and a form that may be one ("cuppa") need a capital; a common word must not open a sentence
        (``sentence_start``).
        """
        stripped = _POSSESSIVE.sub("", token.strip())
        if not stripped:
            return None
        if len(stripped.rstrip(".")) == 1:
            letter = stripped.rstrip(".")
            if letter.isupper() and previous is not None and fold(previous) in INITIAL_CONTEXT:
                owner = self._initials.get(fold(letter))
                return self._names[owner] if owner else None
            return None
        form = fold(stripped)
        owners = self._forms.get(form)
        if owners is None:
            return None
        owner = max(owners, key=lambda owner: (_shared_prefix(form, owner), -len(owner)))
        common = is_common_word(form)
        if (common or _zipf(form) >= RARE_ZIPF) and (not stripped[0].isupper() or stripped.isupper()):
            return None  # "cuppa", "rob": an English word in lower case (or shouted)
        if common and sentence_start:
            return None  # "Rob the ..." opening a sentence
        return self._names[owner]


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def nickname_of(token: str, names: Iterable[str]) -> str | None:
    """Which of ``names`` ``token`` is a derived form of (see ``NicknameIndex`` to look up many tokens)."""
    return NicknameIndex(names).lookup(token)
