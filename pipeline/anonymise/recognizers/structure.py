"""Recognisers for identifiers that transcripts carry in their STRUCTURE (detection only).

Addresses built on flat, house or block names and every common UK street suffix, "Surname, Forename"
and "Forename Surname  0:03:12" speaker labels, and initials used as speaker labels in typed notes.

Why structure rather than name lists: a speaker label's names may be Welsh, Irish, Polish or Nigerian and
in no gazetteer, but a line that holds nothing except "Word, Word" and a timestamp, repeated through the
document, is a speaker label whatever the words are. Likewise an address is recognisable by its shape
(a flat or house number, a street suffix, commas between its parts) rather than by its words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.lang.en.stop_words import STOP_WORDS
from wordfreq import zipf_frequency

from pipeline.anonymise.gazetteers import Gazetteers, vocabulary
from pipeline.anonymise.recognizers.tokens import result
from pipeline.anonymise.terms import default_allow_terms

#: Upper-case letters (Latin, with accents: "Ó", "Ł", "Ŵ") as a character class body.
_UPPER = "".join(re.escape(chr(c)) for c in range(0x41, 0x250) if chr(c).isupper() and chr(c).isalpha()) + "Ŵ"
_CAP = rf"(?-i:[{_UPPER}])[\w'’]*+(?:-[\w'’]+)*+"
_NUMBER_WORDS = (
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|"
    r"eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|a hundred(?: and \w+)?)"
)
_ROLE_WORDS = vocabulary()["role_words"]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _words(text: str) -> str:
    return "|".join(sorted(set(text.split()), key=len, reverse=True))


# ----------------------------------------------------------------------------------------------------
# addresses
# ----------------------------------------------------------------------------------------------------
#: Street suffixes that, after a capitalised name, make a street on their own ("Brindlecot Road").
STRONG_SUFFIXES = _wordset(
    """road rd street avenue ave lane crescent grove terrace gardens mews parade wynd vennel brae fold croft
    garth embankment boulevard quay wharf drive close"""
)
#: Suffixes that are also ordinary words ("the Crown Court", "a safe place"): they need a rare name
#: word ("Wrenfield Court"), a house number, a flat prefix or a neighbouring address part.
WEAK_SUFFIXES = _wordset("way place square rise row hill gate court green park hey heights circus broadway loan")
#: Suffixes too common in other names ("Restorative Approach", "Sponsored Walk", "Barclays Bank", "the
#: bank's Chase") to count without a house number, a flat prefix or a neighbouring address part.
NUMBER_ONLY_SUFFIXES = _wordset("walk view bank yard side approach end chase")
#: Words naming a building ("Kestrel House", "The Mansions").
BUILDING_WORDS = _wordset(
    """house court lodge tower towers heights mansions buildings cottages cottage flats block apartments
    maltings hall farm mill villas"""
)
#: Welsh street words that come BEFORE the name ("Heol y Dderwen", "Ffordd Las").
WELSH_PREFIXES = _wordset("heol ffordd stryd lôn lon rhodfa cilgant teras")
#: Welsh house-name words ("Tŷ Gwyn", "Bwthyn Glas").
WELSH_HOUSE_WORDS = _wordset("tŷ ty plas bwthyn hafod tyddyn llys maes hendre bryn pen")
#: Words before "Court" or "House" that make an institution, not an address ("Crown Court").
INSTITUTION_WORDS = _wordset(
    """crown county family magistrates magistrate coroner coroners youth high supreme appeal district sheriff
    juvenile royal civil criminal federal care"""
)
#: Words after a number that make it a count, not a house number ("20 minutes walk", "3 million").
COUNT_WORDS = _wordset(
    """million billion thousand hundred dozen percent per cent times years months weeks days hours minutes
    mins miles yards metres meters feet foot pounds quid people kids children pupils"""
)
#: Names of streets every town has; without a number they name no one ("the High Street").
GENERIC_STREETS = _wordset("high main ring back front side market church station bypass relief link")
#: Building words that name a place with "The" alone ("The Mansions"); "The Court" needs more.
PLURAL_BUILDINGS = _wordset("maltings mansions villas cottages towers")
_SUFFIX_WORDS = STRONG_SUFFIXES | WEAK_SUFFIXES | NUMBER_ONLY_SUFFIXES | BUILDING_WORDS
_SUFFIX = re.compile(rf"(?i)(?<![\w'’-])(?:{_words(' '.join(_SUFFIX_WORDS))})(?![\w'’-])")
#: "Flat 2", "Apartment 4", "Unit 3", "Block C", "flat 2b".
_UNIT = re.compile(
    rf"(?i)(?<![\w'’-])(?:flat|apartment|apt|unit|block|maisonette|plot)\.?[ \t]+(?:no\.?[ \t]*)?"
    rf"(?:\d{{1,4}}[a-z]?(?:/\d{{1,3}})?|(?-i:[A-Z])|{_NUMBER_WORDS})(?![\w'’-])"
)
#: "Heol y Dderwen", "2 Ffordd Las".
_WELSH = re.compile(
    rf"(?i)(?:(?<![\w'’-])\d{{1,4}}[a-z]?[ \t]+)?(?<![\w'’-])(?:{_words(' '.join(WELSH_PREFIXES))})[ \t]+"
    rf"(?:(?:y|yr|'r|’r)[ \t]+)?{_CAP}(?:[ \t]+{_CAP})?"
)
#: A Welsh house name on its own: "Tŷ Gwyn", "Bwthyn Glas" ("Ty" alone is also a first name).
_WELSH_HOUSE = re.compile(
    rf"(?<![\w'’-])(?P<head>Tŷ|Ty|Bwthyn|Tyddyn|Hafod|Plas)[ \t]+(?P<rest>{_CAP}(?:[ \t]+{_CAP})?)"
)
#: A word before a suffix, read backwards from the suffix.
_WORD_BEFORE = re.compile(r"(?P<word>[^\W\d_][\w'’]*(?:-[\w'’]+)*)[ \t]+$")
_NUMBER_WORD = re.compile(_NUMBER_WORDS)
_NUMBER_BEFORE = re.compile(
    rf"(?i)(?<![\w'’-])(?P<number>\d{{1,4}}[a-z]?(?:[-–/]\d{{1,4}}[a-z]?)?|{_NUMBER_WORDS})[ \t]+$"
)
#: Words after which a lower-case line is an address ("lives at", "address is", "at number").
_TRIGGER = re.compile(
    r"(?i)(?:\b(?:li(?:ve|ves|ved|ving)|stay(?:s|ed|ing)?|mov(?:e|es|ed|ing)|address(?:\s+(?:is|was|'s))?|"
    r"house|home|round|over)\s+(?:at|on|in|to|is|was)?\s*(?:number\s+|no\.?\s+)?"
    r"|\b(?:at|on)\s+(?:number|no\.?)\s+|\bnumber\s+)$"
)
_SEPARATOR = re.compile(r"[ \t]*,?[ \t]*")
_TOWN = re.compile(rf"[ \t]*,[ \t]*(?P<town>{_CAP}(?:[ \t]+{_CAP})?)(?=[ \t]*(?:[,.;:!?)\n]|$|[A-Z]{{1,2}}\d))")
#: A full postcode written after the address line: "..., Hollinbrook, HB3 7QT" (one address span).
_POSTCODE_AFTER = re.compile(r"[ \t]*,?[ \t]*(?P<pc>[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[ABD-HJLNP-UW-Z]{2})(?!\w)")
#: The word(s) after a lower-case address, a town when the gazetteer knows it ("... close hollinbrook").
_LOWER_NEXT = re.compile(r"[ \t]+(?P<one>[a-z][a-z'’-]+)(?:[ \t]+(?P<two>[a-z][a-z'’-]+))?")
_HOUSE_NAME = re.compile(rf"(?P<house>{_CAP}(?:[ \t]+{_CAP}){{1,2}})[ \t]*,[ \t]*$")


@lru_cache(maxsize=65536)
def _zipf(word: str) -> float:
    return zipf_frequency(word, "en")


@lru_cache(maxsize=1)
def _allowed_words() -> frozenset[str]:
    """Single words on the shipped allow list ("Barnardo's", "Ofsted"): never part of a street name."""
    return frozenset(t.strip().casefold() for t in default_allow_terms() if t.strip() and " " not in t.strip())


@dataclass(frozen=True, slots=True)
class _Part:
    start: int
    end: int
    strong: bool  # enough on its own to be an address
    lower: bool  # written in lower case (needs a trigger or a number)


class _TextRecognizer(LocalRecognizer):
    """Base: a recogniser of one entity that reads the raw text with patterns compiled at import."""

    ENTITY = ""

    def __init__(self, gazetteers: Gazetteers) -> None:
        super().__init__(supported_entities=[self.ENTITY], name=type(self).__name__)
        self.gaz = gazetteers

    def load(self) -> None:
        """Patterns are compiled at import; nothing to load."""


class AddressRecognizer(_TextRecognizer):
    """A whole address as one span: "Flat 3, Kestrel House, Miller's Rise", "12 Quarry Mews, Hollinbrook",
    "Tŷ Gwyn, 5 Heol y Dderwen", "seventeen foxglove close" (after "lives at"), "Apartment 6, The Mansions".

    Parts (flat prefix, building, numbered or named street, Welsh street) are chained when only a comma
    or a space separates them, then a house name before and a town after are added. A chain is an
    address when one part is strong on its own (a flat or unit number, a house number, a capitalised
    name + street suffix), when it has two parts, or when it follows "lives at" / "address is". Ordinary
    phrases ("down the road", "the Crown Court", "House of Commons", "the high street", "Care Home")
    have no strong part and stay readable.
    """

    ENTITY = "ADDRESS"
    SCORE = 0.8


    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [result(self.ENTITY, s, e, self.SCORE, self) for s, e in self.spans(text)]

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Character spans of the addresses in ``text``."""
        parts = self._parts(text)
        i = 0
        while i < len(parts):
            chain = [parts[i]]
            j = i + 1
            while j < len(parts) and _SEPARATOR.fullmatch(text, chain[-1].end, parts[j].start):
                chain.append(parts[j])
                j += 1
            i = j
            start, end = chain[0].start, chain[-1].end
            strong = any(p.strong for p in chain) or len(chain) > 1
            if not strong and not _TRIGGER.search(text, max(0, start - 40), start):
                continue
            house = _HOUSE_NAME.search(text, max(0, start - 40), start)
            if house and self._house_name(house.group("house")):
                start = house.start("house")
            yield start, self._extend(text, end, chain[-1].lower)

    def _extend(self, text: str, end: int, lower: bool) -> int:
        """The end of the address after a town and a postcode written on the same line."""
        if lower:
            m = _LOWER_NEXT.match(text, end)
            if m and m.group("two") and f"{m.group('one')} {m.group('two')}" in self.gaz.places:
                return m.end("two")
            if m and m.group("one") in self.gaz.places and m.group("one") not in self.gaz.ambiguous_places:
                return m.end("one")
            return end
        town = _TOWN.match(text, end)
        if town and self._town(town.group("town")):
            end = town.end("town")
        postcode = _POSTCODE_AFTER.match(text, end)
        return postcode.end("pc") if postcode else end

    def _parts(self, text: str) -> list[_Part]:
        found = [self._unit(m) for m in _UNIT.finditer(text)]
        found += [
            _Part(m.start(), m.end(), True, False)
            for m in _WELSH.finditer(text)
            if m.group(0)[0].isupper() or m.group(0)[0].isdigit()
        ]
        found += [p for p in (self._street(text, m) for m in _SUFFIX.finditer(text)) if p is not None]
        found += [_Part(m.start(), m.end(), True, False) for m in _WELSH_HOUSE.finditer(text) if self._welsh_house(m)]
        found.sort(key=lambda p: (p.start, -p.end))
        parts: list[_Part] = []
        for part in found:
            if parts and part.start < parts[-1].end:
                last = parts[-1]
                if part.end > last.end:  # overlapping parts ("Park" inside "12 Park Road"): keep the union
                    parts[-1] = _Part(last.start, part.end, last.strong or part.strong, last.lower and part.lower)
                continue
            parts.append(part)
        return parts

    @staticmethod
    def _unit(m: re.Match[str]) -> _Part:
        word = m.group(0).split()[0]
        lower = word.islower()
        # "unit 3" / "block c" in lower case are as often a course unit or a block of lessons.
        strong = not lower or word.casefold().startswith(("flat", "apartment", "maisonette"))
        return _Part(m.start(), m.end(), strong, lower)

    def _street(self, text: str, m: re.Match[str]) -> _Part | None:
        """A street or building ending in the suffix ``m``, read backwards over up to three name words."""
        suffix = m.group(0)
        folded_suffix = suffix.casefold()
        if re.match(r"[ \t]+of\b", text[m.end() : m.end() + 4]):
            return None  # "Court of Protection", "House of Commons"
        capital = suffix[0].isupper()
        names: list[tuple[int, str]] = []
        start = m.start()
        building_start = None
        while len(names) < 3:
            w = _WORD_BEFORE.search(text, max(0, start - 40), start)
            if w is None:
                break
            word = w.group("word")
            folded = word.casefold()
            if word == "The" and capital:
                building_start = w.start("word")  # "The Mansions", "The Wrenfield Court"
                break
            if folded in STOP_WORDS or word[0].isupper() != capital or folded in _allowed_words():
                break
            if _NUMBER_WORD.fullmatch(folded):
                break  # the house number said in words: "seventeen foxglove close"
            if not capital and folded in _SUFFIX_WORDS:
                break
            names.insert(0, (w.start("word"), word))
            start = w.start("word")
        # A common word opening a sentence is not part of the name: "Yesterday Foxglove Close".
        while len(names) > 1 and _zipf(_bare(names[0][1])) >= 4.5 and _opens_sentence(text, names[0][0]):
            names.pop(0)
        if building_start is not None:
            rare = min((_zipf(_bare(w)) for _, w in names), default=9.0) < 4.0
            strong = (
                (rare or (not names and folded_suffix in PLURAL_BUILDINGS))
                and folded_suffix in BUILDING_WORDS | WEAK_SUFFIXES
                and folded_suffix != "court"  # "The Divisional Court": an institution unless a flat is in it
            )
            return _Part(building_start, m.end(), strong, False)
        if not names:
            return None
        start = names[0][0]
        number = _NUMBER_BEFORE.search(text, max(0, start - 30), start)
        if number and number.group("number")[0].isupper():
            number = None  # "Two White House aides": written addresses use digits; words are speech
        folded_names = [_bare(w) for _, w in names]
        if number and folded_names[0] in COUNT_WORDS:
            return None  # "12 million ...", "20 minutes walk"
        if number:
            start = number.start("number")
        if folded_names[-1] in INSTITUTION_WORDS or folded_names[0] in INSTITUTION_WORDS:
            return None  # "Crown Court", "Family Court", "High Court"
        if not capital:
            # Lower case: only with a house number or right after "lives at" (checked on the chain), and
            # never with a count or time word ("20 minutes walk").
            zipfs = [_zipf(w) for w in folded_names]
            if max(zipfs) >= 5.0 or (not number and min(zipfs) >= 4.0):
                return None
            # "14 foxglove road", "seventeen foxglove road", "twelve ropewalk gate": a house number and a
            # street suffix; with a suffix that is also an ordinary word, or a number said in words, the
            # name must be a rare word ("two green lanes", "ten park benches" stay readable).
            if not number:
                strong = False
            elif folded_suffix in STRONG_SUFFIXES and number.group("number")[0].isdigit():
                strong = True
            else:
                strong = folded_suffix not in NUMBER_ONLY_SUFFIXES and max(zipfs) < 3.0
            return _Part(start, m.end(), strong, True)
        rare = min(_zipf(w) for w in folded_names) < 4.0
        if number:
            strong = True
        elif folded_suffix in STRONG_SUFFIXES:
            strong = not all(w in GENERIC_STREETS for w in folded_names) and (
                folded_suffix not in {"drive", "close"} or rare
            )
        elif folded_suffix in NUMBER_ONLY_SUFFIXES:
            strong = False
        elif folded_suffix == "court":
            strong = False  # "the Constitutional Court": a named court is an institution more often than flats
        else:
            # "Amara Hill", "Dr Green": a suffix that is also a surname needs more than a rare word.
            strong = rare and folded_suffix not in self.gaz.surnames and folded_names[-1] not in self.gaz.first_names
        return _Part(start, m.end(), strong, False)

    def _welsh_house(self, m: re.Match[str]) -> bool:
        """ "Tŷ Gwyn" always; "Ty Gwyn" only when the next word is no English word or known name ("Ty Jones")."""
        if m.group("head") == "Tŷ":
            return True
        words = [_bare(w) for w in m.group("rest").split()]
        return all(_zipf(w) < 3.0 and w not in self.gaz.surnames and w not in self.gaz.first_names for w in words)

    def _house_name(self, words: str) -> bool:
        """A named house before a numbered street: Welsh "Tŷ Gwyn", or "Rose Cottage"."""
        parts = words.split()
        return parts[0].casefold() in WELSH_HOUSE_WORDS or parts[-1].casefold() in BUILDING_WORDS

    def _town(self, word: str) -> bool:
        """A town written at the end of the address line: a gazetteer place or a rare capitalised word."""
        folded = word.casefold()
        if folded in self.gaz.places:
            return True
        words = folded.split()
        return all(w not in STOP_WORDS and _zipf(w) < 3.5 for w in words) and folded not in self.gaz.first_names


def _opens_sentence(text: str, pos: int) -> bool:
    before = text[max(0, pos - 3) : pos].rstrip(" \t")
    return not before or before[-1] in '.!?:\n"“'


def _bare(word: str) -> str:
    """Case-folded without a possessive: "Miller's" -> "cooper"."""
    return re.sub(r"['’]s?$", "", word.casefold())


# ----------------------------------------------------------------------------------------------------
# speaker labels
# ----------------------------------------------------------------------------------------------------
_PARTICLE = r"(?:(?-i:van|von|de|der|den|da|di|du|le|la|ap|ab|bin|bint|al|el|ní|ni|nic|mac|ó|ua|dos|das)[ \t]+)"
_NAME = rf"{_CAP}\.?(?:[ \t]+{_PARTICLE}?{_CAP}\.?){{0,2}}"
_TIMESTAMP = r"\[?\(?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?\)?\]?"
_ORG_NOTE = r"(?:[ \t]*\([^()\n]{1,60}\))?"
#: "Surname, Forename   0:03:12", "Surname, Forename (Org)   12:03", "Forename Surname  00:01:02", and
#: the timestamp first: "00:01:02  Forename Surname".
_LABEL_LINE = re.compile(
    rf"""(?mx)^[ \t]*
    (?:
        (?P<comma>{_NAME},[ \t]*{_NAME}){_ORG_NOTE}[ \t]+{_TIMESTAMP}
      | (?P<plain>{_NAME}){_ORG_NOTE}[ \t]+{_TIMESTAMP}
      | {_TIMESTAMP}[ \t]+(?P<after>{_NAME}(?:,[ \t]*{_NAME})?){_ORG_NOTE}
    )[ \t]*:?[ \t]*\r?$"""
)


def _is_role(label: str) -> bool:
    """A role, not a name: "Interviewer", "Social Worker 2", "P3" (the anonymiser checks again)."""
    words = re.findall(r"[^\W_]+", label)
    return bool(words) and all(
        w.casefold() in _ROLE_WORDS or w.isdigit() or re.fullmatch(r"[A-Za-z]{1,2}\d{1,3}", w) for w in words
    )


class SpeakerLabelRecognizer(_TextRecognizer):
    """Names in speaker-label lines of Teams and VTT-like exports: "Surname, Forename   0:03:12".

    The structure is the evidence, not a name list (labels carry Welsh, Irish, Polish, Nigerian names):
    a line holding only name-shaped words and a timestamp, followed by a line of speech, and at least two
    such lines in the text (a speaker speaks more than once). An agenda ("Lunch  12:30" directly above
    "Plenary  13:30") has no speech under its lines, and a one-word label that is a common word
    ("Break") is no name. The whole label, comma included, is one PERSON span. Roles ("Interviewer
    0:00:05") are skipped here and again by the anonymiser.
    """

    ENTITY = "PERSON"
    SCORE = 0.9  # above spaCy's, so Presidio's de-duplication keeps the structural evidence


    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if ":" not in text:
            return []
        matches = list(_LABEL_LINE.finditer(text))
        if len(matches) < 2:
            return []
        starts = {m.start() for m in matches}
        found = []
        for m in matches:
            next_start = text.find("\n", m.end()) + 1
            next_end = text.find("\n", next_start)
            next_line = text[next_start : next_end if next_end >= 0 else len(text)] if next_start else ""
            if next_start in starts or not next_line.strip():
                continue  # no speech under the label
            group = "comma" if m.group("comma") else "plain" if m.group("plain") else "after"
            label = text[m.start(group) : m.end(group)]
            words = label.split()
            if len(words) == 1 and _zipf(_bare(label)) >= 4.5 and _bare(label) not in self.gaz.first_names:
                continue
            if not _is_role(label):
                found.append((m.start(group), m.end(group)))
        if len(found) < 2:
            return []
        return [result(self.ENTITY, s, e, self.SCORE, self) for s, e in found]


_INITIALS = r"(?-i:[A-Z]\.?[A-Z]\.?(?:[A-Z]\.?)?)"
#: Initials heading a line or a bullet, or opening a sentence, then a colon, a dash, "=", a bracketed
#: name, a possessive or a lower-case word (a verb): "KL:", "RH -", "KL said", "[RH]", "10:32 KL:",
#: "KL = ...", "KL (Kate L...)", "KL's manager". Sentence openers in capitals are not initials: an
#: abbreviation there is followed by a capitalised word as often as not, and is blocked by name below.
_INITIALS_LABEL = re.compile(
    rf"""(?mx)(?:^|(?<=[.!?])[ \t]+)[ \t]*(?:[-–—*•][ \t]+)?(?:\d{{1,2}}[:.]\d{{2}}[ \t]+)?
    (?:
        \[(?P<bracket>{_INITIALS})\]
      | (?P<label>{_INITIALS})
        (?:[ \t]*:(?=\s)|[ \t]+[-–—=](?=[ \t])|[ \t]+\((?-i:[A-Z])|['’]s\b|(?P<verb>[ \t]+(?-i:[a-z]{{2,}})\b))
    )"""
)
#: Upper-case words that head lines or sentences in practice notes without being anybody's initials:
#: speaking roles ("SW:", "GP said"), section headings ("DV:", "NFA -") and words ("OK", "NB"). Two-letter
#: abbreviations that rarely head a line are left out on purpose: they are as likely to be initials.
_ABBREVIATIONS = _wordset(
    """OK NO SO HI AM PM TV ID IT US UK UN EU NB PS RE CC QA NA ED HR PE NI UC KS IQ
    GP SW YP PC DC DS DI TA HT HV MW OT PA MP QC KC LA CP DV DA MH SU LD
    DCI DSL DDSL CIN LAC CLA NFA ASB CSE CCE SEN SEND EHCP EHC PEP IRO ISW FSW SSW EHA TAF CAF DHT HOY SLT
    SENCO LADO MASH YOT YJS CSC CAMHS NHS RTC ETA FYI BCC AOB TBC TBA ASAP DOB POA PTO FGC CPC ICPC RCPC CPP
    CIC SGO EPO PPO ICO MARAC MAPPA IDVA ISVA CAIT CID MOJ DWP HMP YOI STC SCH PRU UASC NRM CPS CEO ICT ADHD
    ASD OCD PTSD AKA BBC ITV DBS PIP ESA JSA GCSE SATS BTEC ESOL EAL FSM SALT ABH GBH TWOC RUI VRI FGM HBV
    CYP ATM CCTV DNA SMS PDF MSG SIM VPN USB FAQ PCSO PSHE RSE SRE NEET EET ETE CBT DBT BSL PPE LGBT"""
)


@lru_cache(maxsize=1)
def _allowed_codes() -> frozenset[str]:
    """Upper-case abbreviations on the shipped allow list ("MASH", "LADO"): never initials."""
    return frozenset(t.strip() for t in default_allow_terms() if t.strip().isupper() and " " not in t.strip())


_LEGEND_NAMES = rf"(?P<names>{_CAP}(?:[ \t]+{_CAP}){{1,2}})"
#: A key to initials: "KL = Kate T...", "KL (Kate T...)", "KL - Kate T...", and "Kate T... (KL)".
_LEGENDS = (
    re.compile(rf"(?<![\w&/@.-])(?P<init>{_INITIALS})[ \t]*(?:=|\(|[-–:])[ \t]*{_LEGEND_NAMES}"),
    re.compile(rf"{_LEGEND_NAMES}[ \t]*\((?P<init>{_INITIALS})\)"),
)


class InitialsLabelRecognizer(_TextRecognizer):
    """Initials used as speaker labels in typed notes ("KL:", "RH -", "KL said", "[RH]"), and the same
    initials wherever else they stand alone in the text ("spoke to KL about ...").

    Initials count when they label a line twice, or once and recur elsewhere; known abbreviations
    ("SW:", "NFA -", "GP said") and capitalised words ("HE said") never count on that evidence alone.
    A key that spells the initials out ("KL = Kate T...", "Sam W... (SW)") makes them a person's even
    when they look like an abbreviation. The score is above spaCy's so that Presidio's de-duplication
    keeps this (structural) evidence rather than an NER guess on the same letters.

    Not a role label: the anonymiser's role test reads any 2-5 capitals as a role code, so this
    recogniser must stay out of ``LABEL_RECOGNIZERS``.
    """

    ENTITY = "PERSON"
    SCORE = 0.9


    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        counts: dict[str, int] = {}
        for m in _INITIALS_LABEL.finditer(text):
            key = (m.group("bracket") or m.group("label")).replace(".", "")
            if len(key) > 2 and m.group("verb"):
                continue  # "EPA said", "CSC agreed": three capitals before a verb are an organisation as often
            counts[key] = counts.get(key, 0) + 1
        people_keys, other_keys = self._legend_keys(text)
        blocked = _ABBREVIATIONS | _allowed_codes() | other_keys
        # "HE said", "NO way": a word in capitals is not initials.
        people = {k for k in counts if k not in blocked and _zipf(k.casefold()) < 5.0} | people_keys
        if not people:
            return []
        alternation = "|".join(r"\.?".join(re.escape(ch) for ch in k) + r"\.?" for k in sorted(people, key=len)[::-1])
        anywhere = re.compile(rf"(?<![\w&/@.-])(?:{alternation})(?![\w&/@]|-\w|\.\w)")
        hits: dict[str, list[tuple[int, int]]] = {}
        for m in anywhere.finditer(text):
            found = m.group(0)
            end = m.end() - 1 if found.endswith(".") and found.count(".") == 1 else m.end()  # "... to KL."
            hits.setdefault(found.replace(".", ""), []).append((m.start(), end))
        out = []
        for key, spans in hits.items():
            count = counts.get(key, 0)
            if count >= 2 or (count == 1 and len(spans) >= 2) or (key in people and key not in counts):
                out.extend(result(self.ENTITY, s, e, self.SCORE, self) for s, e in spans)
        return out

    def _legend_keys(self, text: str) -> tuple[set[str], set[str]]:
        """Initials spelled out by a key: (those whose names look like a person's, those spelled out as
        something else, "Environmental Protection Agency (EPA)", which are then never initials)."""
        keys: set[str] = set()
        others: set[str] = set()
        if "=" not in text and "(" not in text and " - " not in text and ":" not in text:
            return keys, others
        for m in (m for legend in _LEGENDS for m in legend.finditer(text)):
            key = m.group("init").replace(".", "")
            names = m.group("names").split()
            firsts = "".join(w[0] for w in names)
            if not (firsts == key or (len(names) == 3 and firsts[0] + firsts[2] == key)):
                continue
            folded = [_bare(w) for w in names]
            if not any(w in _ROLE_WORDS for w in folded) and (  # "Social Worker (SW)" is a role
                folded[0] in self.gaz.first_names or max(_zipf(w) for w in folded) < 4.0
            ):  # "World Meteorological Organization (WMO)" has common words; "Sadia Wardle (SW)" has none
                keys.add(key)
            else:
                others.add(key)
        return keys, others - keys


def structure_recognizers(gazetteers: Gazetteers) -> list[EntityRecognizer]:
    """Every structural recogniser, in a fresh instance each."""
    return [
        AddressRecognizer(gazetteers),
        SpeakerLabelRecognizer(gazetteers),
        InitialsLabelRecognizer(gazetteers),
    ]
