"""Pattern recognisers for UK identifiers and contact details (detection only; no replacement here).

Why our own classes rather than Presidio's country-specific ones: research transcripts are often typed
from speech, so numbers arrive spaced, hyphenated or in lower case ("ls6 2ab", "ab 12 34 56 c"); the
checksums (NHS) keep precision up where the formats are loose. Each class is a small Presidio
``PatternRecognizer`` (or ``LocalRecognizer`` where a capture group, not the whole match, is the entity)
so it plugs into any ``AnalyzerEngine``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from presidio_analyzer import LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer, UrlRecognizer

from pipeline.anonymise.offline import offline_tld_extractor
from pipeline.anonymise.recognizers.tokens import result as _result

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?"
)
_TEEN = r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|1[1-9]"
_NOT_AGE = (
    r"%|per\b|pounds|quid|minutes|mins|hours|times|days|weeks|months|years|o'clock|past|to\b|of\b|out\b|percent|"
    r"people|kids|children|cases|referrals|pupils|families|officers|staff"
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)




def nhs_checksum_ok(digits: str) -> bool:
    """The NHS number modulus-11 check (weights 10..2 over the first nine digits)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


class NhsNumberRecognizer(PatternRecognizer):
    """NHS numbers (3-3-4 digits, spaced, hyphenated or run together) that pass the mod-11 checksum."""

    PATTERNS: ClassVar[list[Pattern]] = [Pattern("NHS number", r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b", 0.5)]
    CONTEXT: ClassVar[list[str]] = ["nhs", "nhs number", "health", "patient", "gp"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="UK_NHS", patterns=self.PATTERNS, context=self.CONTEXT, name=type(self).__name__
        )

    def validate_result(self, pattern_text: str) -> bool:
        # A valid checksum is strong evidence on its own (1 in 11 random digit strings pass).
        return nhs_checksum_ok(re.sub(r"\D", "", pattern_text))

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags: int | None = None
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for result in results:
            result.score = max(result.score, 0.85)  # validated by checksum
        return results


class NationalInsuranceRecognizer(PatternRecognizer):
    """National Insurance numbers: two prefix letters (HMRC's excluded pairs removed, plus the specimen
    prefix QQ that synthetic and redacted documents use), six digits, A-D."""

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "NI number",
            r"(?i)\b(?:qq|(?!bg|gb|nk|kn|nt|tn|zz)[a-ceghj-pr-tw-z][a-ceghj-npr-tw-z])"
            r"[ -]?\d{2}[ -]?\d{2}[ -]?\d{2}[ -]?[a-d]\b",
            0.85,
        )
    ]
    CONTEXT: ClassVar[list[str]] = ["national insurance", "ni number", "nino", "insurance"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="UK_NINO", patterns=self.PATTERNS, context=self.CONTEXT, name=type(self).__name__
        )


class PostcodeRecognizer(PatternRecognizer):
    """Full UK postcodes in any case and spacing ("LS6 2AB", "ls62ab"); outward codes only with context."""

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "UK postcode",
            r"(?i)\b(?:gir ?0aa|[a-pr-uwyz][a-hk-y]?\d[a-z\d]? ?\d[abd-hjlnp-uw-z]{2})\b",
            0.8,
        ),
        # "she lives over in BD8": an outward code alone narrows a home to a few thousand households.
        Pattern("UK postcode district", r"\b[A-PR-UWYZ][A-HK-Y]?\d{1,2}[A-Z]?\b(?![/.]\d)", 0.3),
    ]
    CONTEXT: ClassVar[list[str]] = ["postcode", "post code", "lives", "live", "area", "address", "moved"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="POSTCODE", patterns=self.PATTERNS, context=self.CONTEXT, name=type(self).__name__
        )

    DISTRICT_CONTEXT = re.compile(
        r"(?i)\b(?:postcode|post code|lives?|living|lived|area|address|moved|from|over in|round)"
        r"\W+(?:\w+\W+){0,2}$"
    )

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        kept = []
        for res in super().analyze(text, entities, nlp_artifacts, regex_flags):
            if res.score < 0.5:  # an outward code alone: only with a word about where someone lives before it
                if not self.DISTRICT_CONTEXT.search(text[max(0, res.start - 40) : res.start]):
                    continue
                res.score = 0.55
            kept.append(res)
        return kept

    def validate_result(self, pattern_text: str) -> bool | None:
        # Outward-only matches must contain a letter and a digit and not be a school year ("Y10").
        compact = pattern_text.replace(" ", "")
        if len(compact) <= 4 and compact.upper().startswith(("Y", "A", "B")) and compact[1:].isdigit():
            return False
        return None


class UkPhoneRecognizer(PhoneRecognizer):
    """UK landline and mobile numbers via ``phonenumbers`` (region GB), in national or +44 form."""

    CONTEXT: ClassVar[list[str]] = ["phone", "mobile", "number", "call", "ring", "text", "landline", "tel", "contact"]

    SCORE = 0.75

    def __init__(self) -> None:
        # Leniency 0 ("possible"): Ofcom's drama ranges (07700 900xxx), used in synthetic transcripts and
        # in redacted quotes, are not "valid" numbers but must still be masked.
        super().__init__(context=self.CONTEXT, supported_regions=("GB",), leniency=0, name=type(self).__name__)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags: int | None = None
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        kept = []
        for res in results:
            digits = re.sub(r"\D", "", text[res.start : res.end])
            if len(digits) >= 10:  # national numbers have 10-11 digits; shorter "possible" ones are noise
                res.score = max(res.score, self.SCORE)
                kept.append(res)
        return kept


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recogniser, validating the domain with an offline ``tldextract``."""

    def __init__(self) -> None:
        super().__init__(name=type(self).__name__)

    def validate_result(self, pattern_text: str) -> bool:
        return offline_tld_extractor()(pattern_text).fqdn != ""

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for res in results:
            res.score = max(res.score, 0.85)  # the domain was validated against the public suffix list
        return results


class WebAddressRecognizer(UrlRecognizer):
    """Presidio's URL recogniser; a URL that names a site is identifying enough to mask without review."""

    def __init__(self) -> None:
        super().__init__(name=type(self).__name__)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for res in results:
            res.score = max(res.score, 0.7)
        return results


class GroupPatternRecognizer(LocalRecognizer):
    """Regex recogniser whose entity is the named group ``id`` when present, else the whole match.

    Why: many identifiers are only recognisable by the words before them ("case number 4471-B",
    "he's 14") and those words must stay readable.
    """

    ENTITY = ""
    PATTERNS: Sequence[tuple[str, str, float]] = ()
    FLAGS = 0

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], name=type(self).__name__)
        self._compiled = [(name, re.compile(rx, self.FLAGS), score) for name, rx, score in self.PATTERNS]

    def load(self) -> None:
        """Patterns are compiled in ``__init__``; nothing to load."""

    def accept(self, text: str, match: re.Match[str]) -> bool:
        """Hook for validation; default accepts every match."""
        return True

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for _name, regex, score in self._compiled:
            for match in regex.finditer(text):
                if not self.accept(text, match):
                    continue
                start, end = match.span("id") if "id" in regex.groupindex and match.group("id") else match.span()
                results.append(_result(self.ENTITY, start, end, score, self))
        return results


class AnyEmailRecognizer(GroupPatternRecognizer):
    """Anything shaped like an e-mail address, whatever its domain ("j.bloggs@nhs.example", an intranet).

    Fail safe: the validated recogniser above scores real domains high; an address on a domain the
    public-suffix list does not know is still somebody's address, masked with a doubtful score.
    """

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = (("any e-mail", r"(?<![\w.+-])[\w.+-]*\w@[\w-]+(?:\.[\w-]+)+", 0.55),)


_NAME_PART = r"(?:[A-Z]\.(?:[-‑][A-Z]\.)*|[A-Z][\w'’‑-]*\w)"


class TitledNamePatternRecognizer(GroupPatternRecognizer):
    """Names after titles with initials and hyphenated parts ("Mr L.-E. Pettiti", "Mr and Mrs Robins"),
    judges' post-nominal titles ("Tugendhat J", "Mance LJ"), and quoted single-letter pseudonyms ("K")."""

    ENTITY = "PERSON"
    PATTERNS = (
        (
            "title and name",
            r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Doctor|Prof|Professor|Sir|Dame|Lord|Lady|Judge|Justice)\.?"
            rf"(?:\s+and\s+(?:Mr|Mrs|Ms|Miss|Dr)\.?)?(?:\s+{_NAME_PART}){{1,4}}(?:\s+of\s+[A-Z]\w+)?",
            0.85,
        ),
        ("judge", r"\b[A-Z][a-z]+(?:[-‑][A-Z][a-z]+)?\s(?:LJ|LCJ|J)(?![\w.])", 0.6),
        ("quoted letter", r"(?<=[“\"‘'])[A-Z]\.?(?=[”\"’'])", 0.6),
    )


class SaintNameRecognizer(LocalRecognizer):
    """Schools, churches and hospices named after a saint: "St Bede's", "st cuthbert's", "St Aidan's C of E
    Primary". The saint's name is a first name, so without this only the name would be masked and the
    rest ("St [PERSON_2]'s C of E Primary") would still point at one school in one parish.
    """

    _PATTERN = re.compile(
        r"(?i)\b(?:st\.?|saint)\s+[a-z][\w-]+(?:\s+(?:and|&)\s+(?:st\.?\s+)?[a-z][\w-]+)?['’]s"
        r"(?P<tail>(?:\s+(?:c\s+of\s+e|ce|rc|catholic|church\s+of\s+england|methodist|community|infant|infants|"
        r"junior|juniors|primary|secondary|high|school|academy|college|nursery|church|hospice|hall|centre))*)"
    )
    _SCHOOL = re.compile(r"(?i)infant|junior|primary|secondary|high|school|academy|college|nursery")

    def __init__(self) -> None:
        super().__init__(supported_entities=["SCHOOL", "PLACE_OF_WORSHIP"], name=type(self).__name__)

    def load(self) -> None:
        """Compiled at import; nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        found = []
        for match in self._PATTERN.finditer(text):
            entity = "SCHOOL" if self._SCHOOL.search(match.group("tail")) else "PLACE_OF_WORSHIP"
            found.append(_result(entity, match.start(), match.end(), 0.7, self))
        return found


class LineLabelRecognizer(GroupPatternRecognizer):
    """A speaker label at the start of a line of plain text ("Sarah Jones: ..."); roles are dropped later.

    Only labels that head two or more lines count: a speaker speaks more than once, while a title
    ("Serious Case Review: Child T") appears once.
    """

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        counts: dict[str, int] = {}
        for res in results:
            counts[text[res.start : res.end]] = counts.get(text[res.start : res.end], 0) + 1
        return [r for r in results if counts[text[r.start : r.end]] >= 2]

    ENTITY = "PERSON"
    PATTERNS = (
        (
            "line label",
            r"(?m)^[ \t]*(?P<id>[A-Z][\w'’.-]*(?:[ \t][A-Z][\w'’.-]*){0,2})[ \t]*(?:\([^)\n]{1,40}\))?[ \t]*:(?=\s)",
            0.6,
        ),
    )


class VoiceTagRecognizer(GroupPatternRecognizer):
    """WebVTT voice tags left in text ("<v Jo Smith>"): the name inside is a speaker's name."""

    ENTITY = "PERSON"
    PATTERNS = (("vtt voice tag", r"<v(?:\.[\w.-]+)*\s+(?P<id>[^>]+?)\s*>", 0.9),)


class SocialHandleRecognizer(GroupPatternRecognizer):
    """Social-media handles ("@kyle_b", "his snap is kyleb2009")."""

    ENTITY = "HANDLE"
    PATTERNS = (
        ("at-handle", r"(?<![\w.@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?", 0.8),
        (
            "named handle",
            r"(?i)\b(?:snap(?:chat)?|insta(?:gram)?|tiktok|twitter|telegram|discord|username|user ?name|"
            r"handle|gamertag|account)"
            r"(?:\s+(?:name|is|was|called|as|'s|:))*\s+(?P<id>@?[a-z0-9_.]*[a-z_.][a-z0-9_.]*\d[a-z0-9_.]*|@?[a-z0-9]+_[a-z0-9_.]+)",
            0.75,
        ),
        ("underscore handle", r"\b[A-Za-z]+_[A-Za-z0-9_]*[A-Za-z0-9]\b", 0.5),
    )


class CaseReferenceRecognizer(GroupPatternRecognizer):
    """Case, crime, application and reference numbers; long digit strings."""

    COMMON_RATIOS = frozenset({"24/7", "50/50", "1/2", "1/3", "2/3", "1/4", "3/4", "9/11", "7/7"})

    def accept(self, text: str, match: re.Match[str]) -> bool:
        return match.group(0) not in self.COMMON_RATIOS

    ENTITY = "CASE_REF"
    PATTERNS = (
        (
            "labelled reference",
            r"(?i)\b(?:case|ref(?:erence)?|crime|incident|log|application|file|claim|referral|complaint|"
            r"nos?\.|number|no)\s*(?:number|no\.?|ref|#)?\s*[:#]?\s*"
            r"(?P<id>[A-Z]{0,5}[-/]?\d[\dA-Z]*(?:[-/.][\dA-Z]+)*(?:(?:,\s*|\s+and\s+)\d[\dA-Z]*(?:[-/.][\dA-Z]+)*)*)",
            0.7,
        ),
        ("slash number", r"\b\d{1,6}/\d{1,4}(?:[A-Z](?:[\w.,]*\w)?)?\b(?!/)", 0.6),
        ("plan code", r"\b\d{1,6}[./]\d{1,4}(?:\s?[A-Z][\w.,]*\w|[A-Z])(?:\s\(no\.\s?\d+\))?", 0.6),
        ("prefixed code", r"\b[A-Z]{1,5}[-/]?\d{4,}(?:[-/][A-Z\d]+)*\b", 0.6),
        ("long digits", r"\b\d{5,}\b", 0.45),
        ("neutral citation", r"\[\d{4}\]\s+[A-Z]{2,6}(?:\s+(?:Civ|Crim|Admin|Fam))?\s+\d+(?:\s+\([A-Za-z]+\))?", 0.7),
    )


class AgeRecognizer(GroupPatternRecognizer):
    """Exact ages: "aged 14", "a 15-year-old", "she's fourteen", "14 years old"."""

    ENTITY = "AGE"
    FLAGS = re.IGNORECASE
    PATTERNS = (
        ("aged n", rf"\b(?:aged?|age of)\s+(?P<id>\d{{1,2}}|{_NUMBER_WORDS})\b", 0.75),
        ("n years old", rf"\b(?P<id>(?:\d{{1,2}}|{_NUMBER_WORDS})[- ](?:years?|yrs?)[- ]old)\b", 0.8),
        (
            "pronoun is n",
            rf"\b(?:he|she|they|i)(?:'s|’s| is| was|'m| am| were| are)\s+(?:only\s+|just\s+|now\s+)?"
            rf"(?P<id>\d{{1,2}}|{_NUMBER_WORDS})\b(?!\s*(?:%|per|pounds|quid|minutes|hours|times))",
            0.6,
        ),
        # A teenager's age after a name: "Jordan was nineteen", "Keziah, fifteen, ...". Only 11-19, the ages
        # this work is about, and never before a unit ("was fifteen minutes late"); low score -> review.
        (
            "teen age after verb",
            rf"\b(?:was|is|turned|turns)\s+(?P<id>{_TEEN})\b(?!\s*(?:{_NOT_AGE}))",
            0.5,
        ),
        ("teen age in apposition", rf",\s*(?P<id>{_TEEN})\s*,", 0.5),
    )


_NUMBER_WORD = (
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|"
    r"eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|\d{1,4}(?:\.\d+)?)"
)
_UNIT = r"(?:working[- ])?(?:days?|weeks?|fortnights?|months?|years?|hours?)"


class DurationRecognizer(GroupPatternRecognizer):
    """Counted durations: "two years", "three-month", "twelve years and six months", "over 100 hours".

    Why mask them: a sentence length, a placement that lasted "eighteen months" or a worker "qualified
    fifteen years" narrows a case or a team down as surely as a date does (TAB annotates them as dates).
    Applied without review: the placeholder keeps the sentence readable and nothing is lost to coding.
    """

    ENTITY = "DATE_TIME"
    FLAGS = re.IGNORECASE
    PATTERNS = (
        (
            "counted duration",
            rf"\b{_NUMBER_WORD}[- ]{_UNIT}(?:['’](?!\w))?(?:,?\s+and\s+{_NUMBER_WORD}[- ]{_UNIT})?\b",
            0.6,
        ),
        ("ranged duration", rf"\b{_NUMBER_WORD}\s+(?:to|or|-)\s+{_NUMBER_WORD}[- ]{_UNIT}\b", 0.6),
    )

    def accept(self, text: str, match: re.Match[str]) -> bool:
        # "24 hours a day", "7 days a week" are ways of speaking, not facts about anyone.
        return not re.match(r"\s+a\s+(?:day|week|month|year)\b", text[match.end() : match.end() + 12])


class SpecificDateRecognizer(GroupPatternRecognizer):
    """Specific dates, including dates of birth ("born 3rd of March 2009", "12/04/2010", "March 2019")."""

    ENTITY = "DATE_TIME"
    FLAGS = re.IGNORECASE
    PATTERNS = (
        ("numeric date", r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b", 0.75),
        ("iso date", r"\b\d{4}-\d{2}-\d{2}\b", 0.8),
        ("day month year", rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\.?,?(?:\s+\d{{4}})?\b", 0.75),
        ("month day year", rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?\b", 0.7),
        ("month year", rf"\b(?:{_MONTHS})\.?\s+(?:19|20)\d{{2}}\b", 0.7),
        ("year", r"\b(?:19[5-9]\d|20[0-4]\d)\b(?![/-]\d)", 0.5),
        ("clock time", r"\b(?:[01]?\d|2[0-3])[.:][0-5]\d\s?(?:a\.?m\.?|p\.?m\.?)(?!\w)", 0.6),
        (
            "date of birth",
            r"\b(?:dob|d\.o\.b\.|date of birth|born(?: on| in)?)\s*:?\s*(?P<id>[\w/. -]{4,20}?\d{2,4})\b",
            0.8,
        ),
    )

    def accept(self, text: str, match: re.Match[str]) -> bool:
        # "you may 2 ..." is not a date; lower-case "may" counts only with a year ("may 2019").
        found = match.group(0)
        return not (found.startswith("may") and not re.search(r"\d{4}", found))
