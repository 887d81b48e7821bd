"""Recognisers for identifiers as people SAY them (detection only; no replacement here).

Why a module of its own: interviews are transcribed from speech, so a phone number arrives as "oh seven
seven double oh, nine hundred ...", a postcode as "el ess six, two ay bee", an e-mail as "jay dot smith at
gmail dot com" and a name spelled out as "J-A-Y-D-E-N". The written-form recognisers in ``patterns.py``
see none of these. Each class here turns the spoken form back into the written one (keeping the character
offsets of the original words), then validates it with the same checks the written forms use: the
``phonenumbers`` library, the NHS mod-11 checksum, the UK postcode regex, the public suffix list. A
validated form scores >= 0.8; a guess from context alone scores 0.5-0.6, under the review threshold, so a
person confirms it.

Speed: every recogniser starts from one precompiled regex that only matches the words it needs (number
words, single letters, "at ... dot"), so ordinary prose costs one regex scan; ``text2num`` and the
validators only run on the rare candidate runs.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import ClassVar

import phonenumbers
from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.lang.en.stop_words import STOP_WORDS
from text_to_num import text2num

from pipeline.anonymise.gazetteers import load_gazetteers
from pipeline.anonymise.offline import offline_tld_extractor
from pipeline.anonymise.recognizers.patterns import NationalInsuranceRecognizer, PostcodeRecognizer, nhs_checksum_ok
from pipeline.anonymise.recognizers.tokens import result as _result
from pipeline.anonymise.terms import default_allow_terms, normalise_term

# ----------------------------------------------------------------------------------------------------
# vocabulary
# ----------------------------------------------------------------------------------------------------
#: Words said for one digit. "oh" / "o" / "nought" are how UK speakers say zero in numbers.
DIGIT_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_ZERO_WORDS = frozenset({"zero", "oh", "o", "nought"})
TEEN_WORDS: dict[str, int] = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS_WORDS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
REPEAT_WORDS: dict[str, int] = {"double": 2, "triple": 3, "treble": 3}
_FILLERS = frozenset({"um", "uh", "erm", "er", "and", "slash"})
_NUMBER_VOCAB = frozenset(DIGIT_WORDS) | frozenset(TEEN_WORDS) | frozenset(TENS_WORDS) | {"hundred", "thousand"}

_ORDINAL_UNITS: dict[str, int] = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
}
_ORDINAL_WORDS: dict[str, int] = {
    **_ORDINAL_UNITS,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
MONTHS: dict[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
#: How letters are said aloud ("el ess six two ay bee"). Only used where the whole run validates.
LETTER_NAMES: dict[str, str] = {
    "ay": "a",
    "bee": "b",
    "cee": "c",
    "see": "c",
    "dee": "d",
    "ee": "e",
    "ef": "f",
    "eff": "f",
    "gee": "g",
    "aitch": "h",
    "haitch": "h",
    "eye": "i",
    "jay": "j",
    "kay": "k",
    "el": "l",
    "ell": "l",
    "em": "m",
    "en": "n",
    "pee": "p",
    "cue": "q",
    "queue": "q",
    "ar": "r",
    "ess": "s",
    "tee": "t",
    "you": "u",
    "vee": "v",
    "ex": "x",
    "why": "y",
    "wye": "y",
    "zed": "z",
    "zee": "z",
}


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_SEP = r"(?:[ \t]*[,\-–][ \t]*|[ \t]+)"
_NUM_TOKEN = rf"(?:{_alt([*_NUMBER_VOCAB, *REPEAT_WORDS, *_FILLERS])}|\d+)"
#: A run of number words and digits ("oh seven seven double oh, nine hundred ...").
_NUMBER_RUN = re.compile(rf"(?i)\b{_NUM_TOKEN}(?:{_SEP}{_NUM_TOKEN})*\b")
_WORD_TOKEN = re.compile(r"[A-Za-z]+|\d+")

_ORDINAL = (
    rf"(?:(?:twenty|thirty)[- ]?(?:{_alt(_ORDINAL_UNITS)})|{_alt(_ORDINAL_WORDS)}"
    r"|[12]?\d(?:st|nd|rd|th)|3[01](?:st|th))"
)
_MONTH = _alt(MONTHS)
_MONTH_ORDINAL = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth)"
_UNIT = r"(?:one|two|three|four|five|six|seven|eight|nine)"
_TWO_DIGITS = rf"(?:{_alt(TEEN_WORDS)}|(?:{_alt(TENS_WORDS)})(?:[- ]{_UNIT})?|(?:oh|o|nought|zero)[- ]{_UNIT})"
#: A year said aloud: "two thousand and nine", "twenty ten", "nineteen ninety nine", "oh nine", "2009".
_YEAR = (
    rf"(?:two[- ]thousand(?:[- ](?:and[- ])?(?:{_TWO_DIGITS}|{_UNIT}))?"
    rf"|(?:nineteen|twenty)[- ]{_TWO_DIGITS}|(?:oh|o|nought)[- ]{_UNIT}|(?:19|20)\d\d|['’]\d\d)"
)
_TAIL_YEAR = rf"(?:,?[ \t]+(?:in[ \t]+)?(?P<year>{_YEAR}))?"


@dataclass(frozen=True, slots=True)
class Piece:
    """Digits said as one unit ("nine hundred" -> "900") and where the words are in the text."""

    digits: str
    start: int
    end: int
    spoken: bool  # said in words (not written as digits)




def _small(words: list[str], i: int) -> tuple[int, int] | None:
    """A number below 100 starting at word ``i`` ("seventy seven", "twelve", "six"): (value, next index)."""
    if i >= len(words):
        return None
    w = words[i]
    if w in TENS_WORDS:
        if i + 1 < len(words) and words[i + 1] in DIGIT_WORDS and words[i + 1] not in _ZERO_WORDS:
            return TENS_WORDS[w] + int(DIGIT_WORDS[words[i + 1]]), i + 2
        return TENS_WORDS[w], i + 1
    if w in TEEN_WORDS:
        return TEEN_WORDS[w], i + 1
    if w in DIGIT_WORDS and w not in _ZERO_WORDS:
        return int(DIGIT_WORDS[w]), i + 1
    return None


def _compound_end(words: list[str], i: int) -> int | None:
    """End of a number with "hundred"/"thousand" starting at ``i`` ("two thousand and nine"), if any.

    Why only with "and" after "hundred": UK speakers read "nine hundred, one two three" in a phone number
    as 900 then digits, but say "nine hundred and twelve" for the number 912.
    """
    small = _small(words, i)
    if small is None:
        return None
    _, j = small
    if j >= len(words) or words[j] not in {"hundred", "thousand"}:
        return None
    if words[j] == "thousand":
        j += 1
        k = j + 1 if j < len(words) and words[j] == "and" else j
        nxt = _small(words, k)
        if nxt is not None:
            inner = _compound_end(words, k)
            j = inner if inner is not None else nxt[1]
        return j
    j += 1  # hundred
    if j + 1 < len(words) and words[j] == "and" and _small(words, j + 1) is not None:
        j = _small(words, j + 1)[1]  # type: ignore[index]
    return j


def spoken_pieces(text: str, start: int, end: int) -> list[Piece]:
    """The digits of the number words in ``text[start:end]``, one ``Piece`` per unit said.

    "oh seven seven double oh nine hundred" -> 0, 7, 7, 00, 900; "nineteen ninety nine" -> 19, 99;
    "two thousand and nine" -> 2009 (through ``text2num``). Unknown words are skipped.
    """
    toks = [(m.group(0).casefold(), start + m.start(), start + m.end()) for m in _WORD_TOKEN.finditer(text[start:end])]
    words = [t[0] for t in toks]
    pieces: list[Piece] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.isdigit():
            pieces.append(Piece(w, toks[i][1], toks[i][2], False))
            i += 1
            continue
        if w in REPEAT_WORDS and i + 1 < len(words) and (words[i + 1] in DIGIT_WORDS or len(words[i + 1]) == 1):
            digit = DIGIT_WORDS.get(words[i + 1], words[i + 1])
            if digit.isdigit():
                pieces.append(Piece(digit * REPEAT_WORDS[w], toks[i][1], toks[i + 1][2], True))
                i += 2
                continue
        compound = _compound_end(words, i)
        if compound is not None:
            try:
                value = text2num(" ".join(words[i:compound]), "en")
            except ValueError:
                value = None
            if value is not None:
                pieces.append(Piece(str(value), toks[i][1], toks[compound - 1][2], True))
                i = compound
                continue
        small = _small(words, i)
        if small is not None and w not in DIGIT_WORDS:
            value, nxt = small
            pieces.append(Piece(str(value), toks[i][1], toks[nxt - 1][2], True))
            i = nxt
            continue
        if w in DIGIT_WORDS:
            pieces.append(Piece(DIGIT_WORDS[w], toks[i][1], toks[i][2], True))
        i += 1
    return pieces


@lru_cache(maxsize=16)
def number_runs(text: str) -> tuple[tuple[Piece, ...], ...]:
    """Every run of number words in ``text`` that has at least two units and one said in words.

    Cached for the last few texts: the phone, NHS, reference and date recognisers read the same runs.
    """
    runs = []
    for match in _NUMBER_RUN.finditer(text):
        if match.end() - match.start() < 5 or not any(ch.isalpha() for ch in match.group(0)):
            continue
        pieces = spoken_pieces(text, match.start(), match.end())
        if len(pieces) >= 2 and any(p.spoken for p in pieces):
            runs.append(tuple(pieces))
    return tuple(runs)


def _windows(pieces: tuple[Piece, ...], lengths: tuple[int, ...]) -> Iterator[tuple[int, int, str]]:
    """(first piece, last piece + 1, digits) for each stretch of whole pieces whose digits have a wanted length."""
    for i in range(len(pieces)):
        digits = ""
        for j in range(i, len(pieces)):
            digits += pieces[j].digits
            if len(digits) in lengths:
                yield i, j + 1, digits
            if len(digits) >= max(lengths):
                break


def anchor_windows(
    text: str, anchor: re.Pattern[str], before: int, after: int, kinds: set[str] | None = None
) -> list[tuple[int, int]]:
    """Merged stretches of ``text`` around each ``anchor`` match, widened to whitespace.

    Why: the full patterns are long alternations, costly to try at every word of a transcript; the
    anchors (a digit, a number word, a month) are rare, and a spoken identifier lies close around one.
    """
    out: list[tuple[int, int]] = []
    for match in anchor.finditer(text):
        if kinds is not None and match.lastgroup:
            kinds.add(match.lastgroup)  # which kind of anchor was seen (named groups)
        start = max(0, match.start() - before)
        end = min(len(text), match.end() + after)
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class _SpokenRecognizer(LocalRecognizer):
    """Base: a ``find`` generator of (entity, start, end, score) over the raw text."""

    ENTITIES: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__(supported_entities=list(self.ENTITIES), name=type(self).__name__)

    def load(self) -> None:
        """Regexes are compiled at import; nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [_result(entity, s, e, score, self) for entity, s, e, score in self.find(text)]

    @abstractmethod
    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        """(entity, start, end, score) of every match in ``text``."""


# ----------------------------------------------------------------------------------------------------
# numbers: phones, NHS numbers, references
# ----------------------------------------------------------------------------------------------------
_PLUS_44 = re.compile(r"(?i)(?:\+|\bplus)[ \t]*$")


class SpokenPhoneRecognizer(_SpokenRecognizer):
    """UK phone numbers said in words ("oh seven seven double oh, nine hundred, one two three").

    The digits must make a 10-11 digit national number starting 0 (or +44 ...) that ``phonenumbers``
    accepts as possible for GB (Ofcom's drama ranges are "possible", not "valid", and must be masked too).
    """

    ENTITIES = ("PHONE_NUMBER",)
    SCORE = 0.85

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        for pieces in number_runs(text):
            best: dict[int, tuple[int, int, int]] = {}  # first piece -> (last piece + 1, start, digits)
            for i, j, digits in _windows(pieces, (10, 11, 12)):
                start = pieces[i].start
                plus = _PLUS_44.search(text, max(0, start - 6), start)
                if digits.startswith("44") and plus is not None:
                    number, start = "+" + digits, plus.start()
                elif digits.startswith("0") and len(digits) in (10, 11):
                    number = digits
                else:
                    continue
                if self._possible(number):
                    best[i] = (j, start, len(number))  # later windows from the same start are longer
            used_to = -1
            for i in sorted(best):
                j, start, _ = best[i]
                if i >= used_to:
                    used_to = j
                    yield "PHONE_NUMBER", start, pieces[j - 1].end, self.SCORE

    @staticmethod
    def _possible(number: str) -> bool:
        try:
            parsed = phonenumbers.parse(number, "GB")
        except phonenumbers.NumberParseException:
            return False
        return phonenumbers.is_possible_number(parsed) and parsed.country_code == 44


_ID_CONTEXT = re.compile(
    r"(?i)\b(?:case|ref(?:erence)?|crime|nhs|upn|lado|referral|incident|log|police|id|cp|file|"
    r"national insurance|ni|number|no)\b(?P<gap>[^.?!\n\d]{0,30})$"
)


class SpokenNhsNumberRecognizer(_SpokenRecognizer):
    """NHS numbers said in words ("nine nine nine, one two three, four five six seven") that pass mod-11."""

    ENTITIES = ("UK_NHS",)
    SCORE = 0.85

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        for pieces in number_runs(text):
            for i, j, digits in _windows(pieces, (10,)):
                if not digits.startswith("0") and nhs_checksum_ok(digits):
                    yield "UK_NHS", pieces[i].start, pieces[j - 1].end, self.SCORE
                    break


_NI_NUMBER = re.compile(NationalInsuranceRecognizer.PATTERNS[0].regex.replace(r"\b", ""))


class SpokenReferenceRecognizer(_SpokenRecognizer):
    """Case, crime, referral, UPN and LADO numbers said in words after a word that names them, and National
    Insurance numbers said aloud ("Q Q four eight, one nine, seven three, B").

    "the case number is four four seven one nine": only with the label close before, and with at least
    four digits said one by one (or six in all), so "the number of cases went up by two thousand" stays.
    Single letters said next to the digits ("C R two two nine one", "... six C") belong to the reference.
    A National Insurance number is validated by the written-form pattern (0.85).
    """

    ENTITIES = ("CASE_REF", "UK_NINO")
    _LETTERS_BEFORE = re.compile(r"(?i)(?:^|[\s,:#(])(?P<l>[a-z](?:[ \t,\-]+[a-z]){0,3})[ \t,\-]+$")
    _LETTER_AFTER = re.compile(r"(?i)[ \t,\-]+(?P<l>[a-z])\b(?![ \t]+[a-z]{2})")

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        for pieces in number_runs(text):
            digits = "".join(p.digits for p in pieces)
            start, end = pieces[0].start, pieces[-1].end
            before = text[max(0, start - 45) : start]
            ctx = _ID_CONTEXT.search(before)
            letters = self._LETTERS_BEFORE.search(before)
            prefix = ""
            if letters is not None and letters.group("l").casefold() not in {"a", "i"}:
                start = max(0, start - 45) + letters.start("l")
                prefix = re.sub(r"[^A-Za-z]", "", letters.group("l"))
            after = self._LETTER_AFTER.match(text, end, min(len(text), end + 8))
            suffix = ""
            if after is not None and after.group("l").casefold() not in {"a", "i"}:
                end, suffix = after.end("l"), after.group("l")
            if _NI_NUMBER.fullmatch(prefix + digits + suffix):
                yield "UK_NINO", start, end, 0.85
                continue
            if ctx is None:
                continue
            weak = ctx.group(0).lower().startswith(("number", "no"))
            if len(digits) >= 6 or (len(digits) >= (5 if weak else 4) and len(pieces) >= 3):
                yield "CASE_REF", start, end, 0.7 if len(digits) >= 6 else 0.6


# ----------------------------------------------------------------------------------------------------
# dates
# ----------------------------------------------------------------------------------------------------
_DOB_CONTEXT = re.compile(r"(?i)\b(?:born|dob|d\.?\s?o\.?\s?b|date of birth|birthday)\b[^.?!\n]{0,25}$")
_NOT_YEAR_AFTER = re.compile(
    r"(?i)[ \t]*(?:pounds|quid|people|kids|children|cases|referrals|pupils|families|staff|times|words|"
    r"miles|hours|minutes|days|weeks|months|years|percent|per\b|%|£)"
)


def _year_value(words: str) -> int | None:
    """The year said in ``words`` (4 digits; "oh nine" -> 2009), or None."""
    cleaned = words.strip().lstrip("'’")
    if cleaned.isdigit():
        value = int(cleaned)
        return value + (2000 if value < 50 else 1900) if len(cleaned) == 2 else value
    pieces = spoken_pieces(cleaned, 0, len(cleaned))
    digits = "".join(p.digits for p in pieces)
    if len(digits) == 2:
        return 2000 + int(digits) if int(digits) < 50 else 1900 + int(digits)
    if len(digits) == 4:
        return int(digits)
    return None


_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_DAY_PREFIX = rf"(?:{_WEEKDAY},?[ \t]+)?"
#: After a bare "the sixteenth", a word that makes it something other than a day ("the third floor").
_BARE_ORDINAL_END = re.compile(r"[ \t]*(?:$|[,.;:!?)\]\n]|(?:and|because|cos|when|at|so|but|then|no|yeah)\b)", re.I)


#: The words a spoken date cannot do without, by kind, in one pattern so a text is scanned once.
_DATE_ANCHOR = re.compile(
    rf"(?i)\b(?:(?P<ordinal>{_ORDINAL})|(?P<month>{_MONTH})|(?P<weekday>{_WEEKDAY})"
    r"|(?P<year>thousand|nineteen|twenty|oh|o|nought))\b|(?P<yr>['’]\d\d)\b"
)


class SpokenDateRecognizer(_SpokenRecognizer):
    """Dates said in words: "the third of March two thousand and nine", "March the third", "twenty third of
    the fourth oh nine", "born on the fifth of june", "Saturday the eighth", "born in twenty ten".

    Why no durations: every pattern needs a day and a month, a weekday and a day, a month and a year, or a
    birth; "two years" and "three months" never match. Dates of birth and dates with a year are specific
    (0.8); a day and a month are likely a specific event (0.7); a year said after "in"/"since", or a bare
    "the sixteenth" just after a date was mentioned, is a doubt (0.5, review).
    """

    ENTITIES = ("DATE_TIME",)
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("day month", rf"\b{_DAY_PREFIX}(?:the[ \t]+)?{_ORDINAL}[ \t]+(?:of[ \t]+)?(?:{_MONTH})\b{_TAIL_YEAR}", 0.7),
        ("month day", rf"\b{_DAY_PREFIX}(?:{_MONTH})[ \t]+(?:the[ \t]+)?{_ORDINAL}\b{_TAIL_YEAR}", 0.7),
        ("day of nth", rf"\b(?:the[ \t]+)?{_ORDINAL}[ \t]+of[ \t]+the[ \t]+{_MONTH_ORDINAL}\b{_TAIL_YEAR}", 0.7),
        ("weekday day", rf"\b{_WEEKDAY}[ \t]+the[ \t]+{_ORDINAL}\b", 0.7),
        ("month year", rf"\b(?:{_MONTH})[ \t]+(?P<year>{_YEAR})\b", 0.7),
        ("year", rf"\b(?:born|since|in|from|until|till|by|of)[ \t]+(?P<year>{_YEAR})\b", 0.5),
        ("bare day", rf"\bthe[ \t]+{_ORDINAL}\b", 0.5),
    )

    #: Words a pattern cannot match without (see ``_DATE_ANCHOR``).
    NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "day month": ("ordinal", "month"),
        "month day": ("ordinal", "month"),
        "day of nth": ("ordinal",),
        "weekday day": ("ordinal", "weekday"),
        "month year": ("month", "year"),
        "year": ("year",),
        "bare day": ("ordinal",),
    }

    def __init__(self) -> None:
        super().__init__()
        self._compiled = [(kind, re.compile(rx, re.IGNORECASE), score) for kind, rx, score in self.PATTERNS]

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        lowered = text.lower()
        if not any(m in lowered for m in ("th", "st", "nd", "rd", "teen", "thousand", "twenty")):
            return
        kinds: set[str] = set()
        windows = anchor_windows(text, _DATE_ANCHOR, 60, 60, kinds)
        has = {
            name: name in kinds or (name == "year" and "yr" in kinds)
            for name in ("ordinal", "month", "weekday", "year")
        }
        found: list[tuple[int, int]] = []
        for kind, regex, score in self._compiled:
            if not all(has[need] for need in self.NEEDS[kind]):
                continue  # one cheap scan per anchor instead of every pattern over every text
            for match in (m for w_start, w_end in windows for m in regex.finditer(text, w_start, w_end)):
                hit = self._judge(text, lowered, kind, match, score, found)
                if hit is not None:
                    found.append((hit[0], hit[1]))
                    yield "DATE_TIME", *hit
        yield from self._spoken_numeric_dob(text)

    def _judge(
        self, text: str, lowered: str, kind: str, match: re.Match[str], score: float, found: list[tuple[int, int]]
    ) -> tuple[int, int, float] | None:
        start, end = match.span()
        year_text = match.groupdict().get("year")
        year = _year_value(year_text) if year_text else None
        year_kind = kind in {"month year", "year"}
        if year_text and (year is None or not 1900 <= year <= 2049):
            if year_kind:
                return None
            end, year = match.start("year"), None  # not a year: keep the day and month only
        if year_kind and (_NOT_YEAR_AFTER.match(text, end) or not self._said(year_text or "")):
            return None  # "in twenty twenty people", or a written year (patterns.py has those)
        if kind == "bare day":
            return self._bare_day(text, lowered, match, found)
        if kind == "year":
            start = match.start("year")
            if any(w in lowered[max(0, start - 40) : start] for w in ("born", "birth", "dob")):
                return start, end, 0.75
            return (start, end, score) if year is not None and 1990 <= year <= 2035 else None
        born = _DOB_CONTEXT.search(text[max(0, start - 40) : start]) is not None
        lower_verb = text[start].islower() and match.group(0).split()[0].lower() in {"may", "march"}
        if kind == "month year" and lower_verb and not born and year is not None and year < 1990:
            return None  # lower-case "may"/"march" before a number need a recent year to be a month
        return start, end, 0.8 if (year is not None or born) else score

    @staticmethod
    def _bare_day(
        text: str, lowered: str, match: re.Match[str], found: list[tuple[int, int]]
    ) -> tuple[int, int, float] | None:
        """ "no, sorry, the sixteenth": a day of the month on its own, only just after another date."""
        start, end = match.span()
        if any(s <= start < e for s, e in found) or not _BARE_ORDINAL_END.match(text, end):
            return None
        if any(s < start and start - e < 100 for s, e in found):
            return start, end, 0.5  # with "the", as the other spoken dates ("the fourteenth of March")
        return None

    @staticmethod
    def _said(year_text: str) -> bool:
        return any(ch.isalpha() for ch in year_text)

    @staticmethod
    def _spoken_numeric_dob(text: str) -> Iterable[tuple[str, int, int, float]]:
        """ "date of birth oh three, oh four, oh nine": day, month, year said as numbers after a birth word."""
        for pieces in number_runs(text):
            start = pieces[0].start
            if not _DOB_CONTEXT.search(text[max(0, start - 40) : start]):
                continue
            digits = "".join(p.digits for p in pieces)
            if len(digits) in (6, 8):
                parts = [digits[:2], digits[2:4], digits[4:]]
            else:
                parts = [p.digits for p in pieces[:3]] if len(pieces) >= 3 else []
            if not (len(parts) == 3 and all(parts) and len(parts[2]) in (2, 4)):
                continue
            if 1 <= int(parts[0]) <= 31 and 1 <= int(parts[1]) <= 12:
                last = pieces[-1] if len(digits) in (6, 8) else pieces[2]
                yield "DATE_TIME", start, last.end, 0.8


# ----------------------------------------------------------------------------------------------------
# postcodes
# ----------------------------------------------------------------------------------------------------
_POSTCODE_FULL = re.compile(PostcodeRecognizer.PATTERNS[0].regex.replace(r"\b", ""))
_PC_TOKEN = (
    rf"(?:{_alt([*LETTER_NAMES, *DIGIT_WORDS, *TEEN_WORDS, *TENS_WORDS])}|double[- ]?(?:u|you)"
    r"|[A-Za-z]{1,2}\d{0,2}[A-Za-z]?|\d{1,2}[A-Za-z]{0,2})"
)
_POSTCODE_RUN = re.compile(rf"(?i)\b{_PC_TOKEN}(?:{_SEP}{_PC_TOKEN})+\b")
_DIGITISH = re.compile(rf"(?i)\d|\b(?:{_alt([*DIGIT_WORDS, *TEEN_WORDS, *TENS_WORDS])})\b")
_PC_SPLIT = re.compile(r"[A-Za-z]+\d*[A-Za-z]?|\d+[A-Za-z]*")


class SpokenPostcodeRecognizer(_SpokenRecognizer):
    """UK postcodes said aloud: "L S six, two A B", "el ess six two ay bee", "b d eight nine x y".

    Letter names and number words are turned back into characters; the whole run of tokens must then
    be a full postcode by the same regex as written ones, starting and ending on a token.
    """

    ENTITIES = ("POSTCODE",)
    SCORE = 0.85

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        for w_start, w_end in anchor_windows(text, _DIGITISH, 30, 40):
            for match in _POSTCODE_RUN.finditer(text, w_start, w_end):
                if match.end() - match.start() < 5 or not _DIGITISH.search(match.group(0)):
                    continue  # a postcode has digits: runs of short words ("so i was at the") go no further
                tokens = self._tokens(text, match.start(), match.end())
                if tokens is None:
                    continue
                yield from self._postcodes(tokens)

    def _tokens(self, text: str, start: int, end: int) -> list[tuple[str, int, int, bool]] | None:
        """(characters, start, end, said) per token; None when the run cannot hold a postcode."""
        raw = [(m.group(0), start + m.start(), start + m.end()) for m in _PC_SPLIT.finditer(text[start:end])]
        out: list[tuple[str, int, int, bool]] = []
        k = 0
        while k < len(raw):
            word, s, e = raw[k]
            folded = word.casefold()
            if folded == "double" and k + 1 < len(raw) and raw[k + 1][0].casefold() in {"u", "you"}:
                out.append(("w", s, raw[k + 1][2], True))
                k += 2
                continue
            if folded in LETTER_NAMES:
                out.append((LETTER_NAMES[folded], s, e, True))
            elif folded in DIGIT_WORDS:
                out.append((DIGIT_WORDS[folded], s, e, True))
            elif folded in TEEN_WORDS or folded in TENS_WORDS:
                value = TEEN_WORDS.get(folded) or TENS_WORDS[folded]
                out.append((str(value), s, e, True))
            elif len(word) <= 3 and not (word.isalpha() and word.islower() and folded in STOP_WORDS):
                out.append((folded, s, e, False))
            else:
                out.append(("", s, e, False))  # a word: breaks the run
            k += 1
        if sum(len(t[0]) for t in out) < 5:
            return None
        return out

    @staticmethod
    def _postcodes(tokens: list[tuple[str, int, int, bool]]) -> Iterable[tuple[str, int, int, float]]:
        i = 0
        while i < len(tokens):
            found = None
            chars = ""
            for j in range(i, min(len(tokens), i + 9)):
                if not tokens[j][0]:
                    break
                chars += tokens[j][0]
                if len(chars) > 7:
                    break
                if (
                    len(chars) >= 5
                    and _POSTCODE_FULL.fullmatch(chars)
                    and any(t[3] or len(t[0]) == 1 for t in tokens[i : j + 1])
                    and j > i
                ):
                    found = j
            if found is not None:
                yield "POSTCODE", tokens[i][1], tokens[found][2], SpokenPostcodeRecognizer.SCORE
                i = found + 1
            else:
                i += 1


# ----------------------------------------------------------------------------------------------------
# e-mail addresses and handles
# ----------------------------------------------------------------------------------------------------
_CONNECTORS: dict[str, str] = {
    "dot": ".",
    "underscore": "_",
    "dash": "-",
    "hyphen": "-",
    "point": ".",
}
_EMAIL_DOMAIN = re.compile(
    r"(?i)(?:(?<=\s)at[ \t]+|[ \t]*@[ \t]*)"
    r"(?P<domain>[a-z0-9][a-z0-9-]*(?:(?:\.|[ \t]+(?:dot|point)[ \t]+)[a-z0-9][a-z0-9-]*){1,4})"
)
_LABEL_SPLIT = re.compile(r"(?i)\.|[ \t]+(?:dot|point)[ \t]+")
_BACK_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[^A-Za-z0-9\s]")
#: Words that end the part before "at" (the local part of a spoken address never holds them).
_LOCAL_STOP = frozenset(
    {
        "email",
        "e",
        "mail",
        "address",
        "is",
        "was",
        "it's",
        "it’s",
        "its",
        "that's",
        "that’s",
        "me",
        "to",
        "on",
        "at",
        "her",
        "his",
        "my",
        "their",
    }
)


def _spoken_content(word: str) -> bool:
    """Whether a word can be part of a spoken address or handle (stop words end it, numbers do not)."""
    folded = word.casefold()
    if folded in _CONNECTORS or folded in _NUMBER_VOCAB or folded.isdigit():
        return True
    if len(folded) == 1:
        return folded not in {"a", "i"}
    return folded not in STOP_WORDS


class SpokenEmailRecognizer(_SpokenRecognizer):
    """E-mail addresses said aloud: "jay dot smith at gmail dot com", "kerry underscore b at outlook dot com".

    The domain is rebuilt ("hotmail dot co dot uk" -> hotmail.co.uk) and must end in a real public suffix
    (offline list); the local part is the few words before "at", back to a stop word or punctuation.
    """

    ENTITIES = ("EMAIL_ADDRESS",)
    SCORE = 0.85
    MAX_LOCAL_WORDS = 4

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        if " at " not in text and "@" not in text and " at\t" not in text:
            return
        for match in _EMAIL_DOMAIN.finditer(text):
            end = self._domain_end(text, match)
            if end is None:
                continue
            start = self._local_start(text, match.start())
            if start is None:
                continue
            if "@" in text[start:end] and "." in text[start:end] and " " not in text[start:end]:
                continue  # a written address: OfflineEmailRecognizer has it
            yield "EMAIL_ADDRESS", start, end, self.SCORE

    @staticmethod
    def _domain_end(text: str, match: re.Match[str]) -> int | None:
        """End offset of the longest prefix of the spoken domain with a real suffix, or None."""
        d_start = match.start("domain")
        domain = match.group("domain")
        labels, cursor = [], 0
        for sep in _LABEL_SPLIT.finditer(domain):
            labels.append((cursor, sep.start()))
            cursor = sep.end()
        labels.append((cursor, len(domain)))
        names = [domain[s:e].casefold() for s, e in labels]
        for n in range(len(names), 1, -1):
            ext = offline_tld_extractor()(".".join(names[:n]))
            if ext.domain and ext.suffix and ext.fqdn == ".".join(names[:n]):
                return d_start + labels[n - 1][1]
        return None

    def _local_start(self, text: str, at: int) -> int | None:
        window_start = max(0, at - 80)
        tokens = list(_BACK_TOKEN.finditer(text, window_start, at))
        start = None
        units = 0
        prev = ""  # "number" after a number word, so "two thousand and nine" counts once
        for k in range(len(tokens) - 1, -1, -1):
            word = tokens[k].group(0)
            if not word[0].isalnum():
                if word in "._-" and start is not None:
                    continue
                break
            folded = word.casefold()
            if folded == "and" and prev == "number" and k > 0 and tokens[k - 1].group(0).casefold() in _NUMBER_VOCAB:
                continue
            if folded in _LOCAL_STOP or not _spoken_content(word):
                break
            kind = "number" if folded in _NUMBER_VOCAB else "connector" if folded in _CONNECTORS else "word"
            if kind == "word" or (kind == "number" and prev != "number"):
                units += 1
                if units > self.MAX_LOCAL_WORDS:
                    break
            prev = kind
            start = tokens[k].start()
        if start is None:
            return None
        while text[start:at].split() and text[start:at].split()[0].casefold() in _CONNECTORS:
            start = text.index(" ", start) + 1  # never start on "dot"
        return start if start < at else None


_PLATFORMS = (
    r"snap(?:chat)?|insta(?:gram)?|ig|tik[ \t]?tok|twitter|telegram|discord|whats[ \t]?app|facebook|fb|"
    r"xbox|psn|playstation|roblox|fortnite|twitch|youtube|kik|threads"
)
_HANDLE_CONTEXT = re.compile(
    rf"(?i)\b(?:(?:{_PLATFORMS})(?:[ \t]+(?:name|handle|username|user[ \t]?name|tag|account|id))?"
    r"|username|user[ \t]?name|gamer[ \t]?tag|handle)"
    r"(?:[ \t]*(?::|=|-)[ \t]*|[ \t]+(?:is|was|'s|’s|as|called|it's|it’s|it[ \t]+is|"
    r"(?:he|she|they)(?:'s|’s|[ \t]+is|[ \t]+was|[ \t]+were|'re|’re))[ \t]+|[ \t]*['’]s[ \t]+)"
    r"(?:(?:just|like|literally|um|erm)[ \t,]+)?(?P<at>(?:at|@)[ \t]*)?"
)
#: Weaker openings, counted only shortly after a platform is named: "On my Snap. I'm ...", "at ...".
_HANDLE_LOOSE = re.compile(
    r"(?i)(?<![\w'’])(?:(?P<at>at|@)|i['’]m|i[ \t]+am|(?:he|she|it|they)(?:['’]s|[ \t]+is|['’]re)|"
    r"mine(?:['’]s|[ \t]+is)|(?:his|hers)[ \t]+is|called)[ \t]+(?=\w)"
)
_UNDERSCORE = re.compile(r"(?i)\bunderscore\b")
_PLATFORM_NEAR = re.compile(
    rf"(?i)\b(?:{_PLATFORMS}|username|gamer[ \t]?tag|handle|account|follow|followers|dm|dms|messaged)\b"
)
_HANDLE_STOP = frozenset(
    {
        "and",
        "but",
        "or",
        "who",
        "which",
        "that",
        "so",
        "because",
        "cos",
        "then",
        "like",
        "yeah",
        "innit",
        "got",
        "get",
        "gets",
        "said",
        "says",
        "sent",
        "messaged",
        "added",
        "posted",
        "blocked",
        "deleted",
        "hacked",
        "made",
        "went",
        "told",
        "asked",
        "started",
        "kept",
        "keeps",
        "used",
        "uses",
        "with",
        "from",
        "on",
        "in",
        "at",
        "dot",
        "com",
    }
)
_HANDLE_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[_.][A-Za-z0-9]+)*(?:['’][A-Za-z]+)?|[^A-Za-z0-9\s]")


class SpokenHandleRecognizer(_SpokenRecognizer):
    """Social-media handles said in words after the platform: "his snap is silver fox twenty one",
    "she's on insta, at big mal official", "l i l underscore m a d s underscore zero eight".

    The handle runs from the context to a clear boundary (punctuation, "and"/"but", a pronoun or common
    verb) and holds at most a few words (a spelled run of letters or a number counts as one). A bare
    "at" counts as context only with a platform named shortly before. Evidence inside the handle
    (a number, "underscore", letters) raises the score; plain words stay doubtful (review).
    """

    ENTITIES = ("HANDLE",)
    MAX_UNITS = 4

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        covered: list[tuple[int, int]] = []
        for match in _HANDLE_CONTEXT.finditer(text):
            hit = self._judge(text, match, strong=True)
            if hit is not None:
                covered.append(hit[:2])
                yield "HANDLE", *hit
        for match in _HANDLE_LOOSE.finditer(text):
            if any(s <= match.start() < e for s, e in covered):
                continue
            if not _PLATFORM_NEAR.search(text, max(0, match.start() - 80), match.start()):
                continue
            hit = self._judge(text, match, strong=False)
            if hit is not None:
                covered.append(hit[:2])
                yield "HANDLE", *hit
        for match in _UNDERSCORE.finditer(text):
            if any(s <= match.start() < e for s, e in covered):
                continue
            found = self._handle(text, self._back(text, match.start()))
            if found is not None and found[1] > match.end():
                covered.append(found[:2])
                yield "HANDLE", found[0], found[1], 0.7  # nobody says "underscore" except in a handle

    def _judge(self, text: str, match: re.Match[str], *, strong: bool) -> tuple[int, int, float] | None:
        at = match.group("at")
        if at and _EMAIL_DOMAIN.match(text, match.start("at")):
            return None  # "at gmail dot com": the e-mail recogniser has it
        found = self._handle(text, match.end())
        if found is None:
            return None
        start, end, units, evidence = found
        if units == 0:
            return None
        surface = text[start:end]
        if "@" in surface or (surface.count(" ") == 0 and "_" in surface):
            return None  # a written handle: SocialHandleRecognizer has it
        if at:
            start = match.start("at")  # the "at" is said for "@": part of the handle
        if evidence:
            return start, end, 0.7
        if not strong and not at:
            return None  # "I'm tired": a weak opening needs a number, letters or "underscore" in the handle
        if units >= 2:
            return start, end, 0.55
        if _zipf(surface.casefold()) >= 3.5:
            return None  # "her insta is private"
        return start, end, 0.5

    @staticmethod
    def _back(text: str, pos: int) -> int:
        """Start of the one or two words (or spelled letters) said before an "underscore" at ``pos``."""
        start = pos
        words = 0
        for tok in reversed(list(_HANDLE_TOKEN.finditer(text, max(0, pos - 60), pos))):
            word = tok.group(0)
            if not word[0].isalnum() or text[tok.end() : start].count("\n"):
                break
            folded = word.casefold()
            spelled = folded in {"a", "i"} and start < pos and text[start + 1 : start + 2] in {" ", ""}
            if folded in _HANDLE_STOP or not (_spoken_content(word) or spelled):
                break  # "a"/"i" count only inside letters being spelled ("l i l underscore ...")
            if len(folded) > 1:
                words += 1
                if words > 2:
                    break
            start = tok.start()
        return start

    def _handle(self, text: str, pos: int) -> tuple[int, int, int, bool] | None:
        start = end = None
        units = 0
        evidence = False
        prev = ""  # kind of the previous token: letter, number, word, connector
        for tok in _HANDLE_TOKEN.finditer(text, pos, min(len(text), pos + 120)):
            word = tok.group(0)
            possessive = re.search(r"['’][A-Za-z]+$", word)
            if possessive is not None:
                if word.casefold() in STOP_WORDS or possessive.group(0)[1:].casefold() != "s":
                    break  # "it's", "they'll": the sentence goes on
                word = word[: possessive.start()]  # "... oh seven's": the handle ends here
            folded = word.casefold()
            if start is not None and text[end : tok.start()].count("\n"):
                break
            if not word[0].isalnum():
                break
            if folded in _HANDLE_STOP and not (folded == "dot" and prev):
                break
            if folded in {"underscore", "dot", "dash"}:
                if not prev:
                    break
                evidence = True
                prev = "connector"
                end = tok.end()
                continue
            if len(folded) == 1 and folded.isalpha():
                kind = "letter"
            elif folded in _NUMBER_VOCAB or folded in REPEAT_WORDS or folded.isdigit():
                kind = "number"
            elif _spoken_content(word):
                kind = "word"
            else:
                break
            if kind in {"letter", "number"} and folded in {"a", "i", "o"} and prev != kind and kind == "letter":
                nxt = text[tok.end() : tok.end() + 3]
                if not re.match(r"[ \t]+[a-z](?![a-z])", nxt):
                    break  # "a"/"i" alone is a word, not a letter of the handle
            if kind != prev or kind == "word":
                units += 1
                if units > self.MAX_UNITS:
                    break
            if kind in {"number", "letter"} or "_" in word or any(ch.isdigit() for ch in word):
                evidence = evidence or kind == "number" or "_" in word or any(ch.isdigit() for ch in word)
            prev = kind
            if start is None:
                start = tok.start()
            end = tok.start() + len(word)
            if possessive is not None:
                break
        if start is None or end is None:
            return None
        return start, end, units, evidence


@lru_cache(maxsize=50_000)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


# ----------------------------------------------------------------------------------------------------
# names spelled letter by letter
# ----------------------------------------------------------------------------------------------------
_LETTER = r"(?:\b(?:double|triple)[- ]?)?(?<![A-Za-z0-9'’])[A-Za-z](?![A-Za-z0-9'’])"
_LETTER_SEP = r"(?:[ \t]*[-–—.,/][ \t]*|[ \t]+)"
_SPELLED_RUN = re.compile(rf"{_LETTER}(?:{_LETTER_SEP}{_LETTER})+\.?")
_SPELL_CONTEXT = re.compile(
    r"(?i)\b(?:spel(?:l|ls|led|t|ling)|that's|thats|that is|it's|its|it is|with an?|as in|letters?|capital)"
    r"\b[\s,:;\"“'‘-]*(?:(?:it|that|like|as|its|it's|is|was)\b[\s,:;\"“-]*)*$"
)
_PRONOUN_VERB = re.compile(
    r"[ \t]+(?:think|thought|know|knew|guess|mean|dunno|don't|do|did|was|am|said|say|reckon|have|had|would|"
    r"will|can|could|just|wrote|put)\b"
)
_WORD_BEFORE = re.compile(r"([A-Za-z'’]+)[\s,:;.\"“”-]{1,6}$")
_DOUBLE_LETTER = re.compile(
    r"(?i)\b(?:with[ \t]+(?:a[ \t]+)?|spel(?:t|led)[ \t]+(?:with[ \t]+)?(?:a[ \t]+)?)"
    r"(?P<id>double[- ]?[a-z](?:['’]?s)?)(?![A-Za-z])"
)


@lru_cache(maxsize=1)
def _allowed_acronyms() -> frozenset[str]:
    """Single-word allow-list terms ("CAMHS", "LADO"): spelled out, they name a service, not a person."""
    return frozenset(normalise_term(t) for t in default_allow_terms() if " " not in t.strip())


class SpelledNameRecognizer(_SpokenRecognizer):
    """Names spelled letter by letter: "J-A-Y-D-E-N", "j a y d e n", "that's K, E, I, S, H, A", "double-n".

    At least three letters. Sure (0.85) after a spelling word ("spelled", "that's", "it's"), or when the
    letters make a known first name or surname, or a word no English vocabulary has, joined with hyphens
    or commas. Letters that make an ordinary word or acronym ("a b c", "n h s") without such a word
    before them are left alone. The name the letters make is masked wherever else it is said.
    """

    ENTITIES = ("PERSON",)

    def find(self, text: str) -> Iterable[tuple[str, int, int, float]]:
        names: set[str] = set()
        spans: list[tuple[int, int]] = []
        for match in _SPELLED_RUN.finditer(text):
            found = self._judge(text, match)
            if found is None:
                continue
            start, end, word, score = found
            spans.append((start, end))
            names.add(word)
            yield "PERSON", start, end, score
        for match in _DOUBLE_LETTER.finditer(text):
            yield "PERSON", match.start("id"), match.end("id"), 0.6
        yield from self._said_elsewhere(text, names, spans)

    def _judge(self, text: str, match: re.Match[str]) -> tuple[int, int, str, float] | None:
        letters = list(re.finditer(r"(?:\b(?:double|triple)[- ]?)?[A-Za-z](?![A-Za-z])", match.group(0)))
        seps = [match.group(0)[a.end() : b.start()] for a, b in pairwise(letters)]
        # Letters at either end joined differently from the rest belong to the prose around the spelling:
        # "a J-A-Y-D-E-N", "R-E-I-L-L-Y. I'll ...".
        kinds = [sep.strip()[:1] or " " for sep in seps]
        if kinds:
            main = max(set(kinds), key=kinds.count)
            while len(letters) > 3 and kinds[0] != main:
                letters, seps, kinds = letters[1:], seps[1:], kinds[1:]
            while len(letters) > 3 and kinds[-1] != main:
                letters, seps, kinds = letters[:-1], seps[:-1], kinds[:-1]
        tail = text[match.start() + letters[-1].end() : match.start() + letters[-1].end() + 12]
        if len(letters) > 3 and letters[-1].group(0) == "i" and _PRONOUN_VERB.match(tail):
            letters, seps = letters[:-1], seps[:-1]  # "z a r a h i think": the pronoun, not a letter
        if len(letters) > 1 and letters[0].group(0) in {"a", "A"} and len(letters[1].group(0)) > 1:
            letters, seps = letters[1:], seps[1:]  # "a double-n" is the article and one doubled letter
        word = ""
        for letter in letters:
            raw = letter.group(0)
            count = 3 if raw.lower().startswith("triple") else 2 if raw.lower().startswith("double") else 1
            word += raw[-1].casefold() * count
        if len(word) < 3:
            return None
        start = match.start() + letters[0].start()
        end = match.start() + letters[-1].end()
        if word in _allowed_acronyms():
            return None
        punctuated = any(s.strip() for s in seps)
        before = text[max(0, start - 40) : start]
        after = text[end : end + 20].casefold()
        if _SPELL_CONTEXT.search(before) or re.match(r"[\s,.-]*(?:spel|that's how)", after):
            return start, end, word, 0.85
        said = _WORD_BEFORE.search(before)
        if said is not None and said.group(1).casefold() == word:
            return start, end, word, 0.85  # "Reilly, R-E-I-L-L-Y": the word, then its spelling
        gaz = load_gazetteers()
        known_name = word in gaz.first_names or word in gaz.surnames or word in gaz.ambiguous_names
        rare = _zipf(word) < 3.0
        if known_name or (rare and len(word) >= 4):
            return start, end, word, 0.8 if punctuated else 0.6
        if rare and punctuated:
            return start, end, word, 0.5
        return None

    @staticmethod
    def _said_elsewhere(
        text: str, names: set[str], spans: list[tuple[int, int]]
    ) -> Iterable[tuple[str, int, int, float]]:
        """The spelled name said as a word ("Jayden ... J-A-Y-D-E-N"): the spelling confirms it is a name."""
        for name in names:
            if len(name) < 3 or name in STOP_WORDS:
                continue
            common = _zipf(name) >= 4.5  # "will", "mark": only where capitalised
            for m in re.finditer(rf"(?i)(?<![\w-]){re.escape(name)}(?![\w-])", text):
                if any(s <= m.start() < e for s, e in spans):
                    continue
                if common and not m.group(0)[0].isupper():
                    continue
                yield "PERSON", m.start(), m.end(), 0.75


def spoken_recognizers() -> list[EntityRecognizer]:
    """Every spoken-form recogniser, in a fresh instance each."""
    return [
        SpelledNameRecognizer(),
        SpokenPhoneRecognizer(),
        SpokenNhsNumberRecognizer(),
        SpokenReferenceRecognizer(),
        SpokenDateRecognizer(),
        SpokenPostcodeRecognizer(),
        SpokenEmailRecognizer(),
        SpokenHandleRecognizer(),
    ]
