"""The anonymiser: detections from Presidio, then the decisions that make them safe and readable.

Pipeline for one document (a list of texts that belong together, e.g. the turns of a transcript):

1. **Detect** with the Presidio ``AnalyzerEngine`` (spaCy NER + qualcode's recognisers), all texts in one
   ``nlp.pipe`` batch, plus the project's deny list.
2. **Protect** the domain allow-list: a detection inside "Channel panel" is dropped; one spanning
   "Bradford MASH" keeps only "Bradford".
3. **Merge** overlapping detections into one span of the most specific type (an address beats a date).
4. **Propagate**: once a name is found anywhere in the document (text or speaker label), every other
   occurrence is masked too, in any casing when the name is a known first name or was seen in lower case.
5. **Pseudonymise**: each span gets a consistent placeholder from the pseudonym store (``[PERSON_7]``) or a
   surrogate name, and the output text is assembled with offsets in both directions.

Detection is Presidio's job; transformation is ours, so both can be tested and measured separately.
"""

from __future__ import annotations

import bisect
import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from presidio_analyzer import AnalyzerEngine, RecognizerResult
from spacy.lang.en.stop_words import STOP_WORDS

from pipeline.anonymise.entities import ANALYSED_ENTITIES, placeholder_type, priority
from pipeline.anonymise.gazetteers import Gazetteers, load_gazetteers, vocabulary
from pipeline.anonymise.nicknames import NicknameIndex
from pipeline.anonymise.pseudonyms import InMemoryPseudonymStore, PseudonymStore, surrogate_text
from pipeline.anonymise.recognizers.candidates import Kind, is_country, is_product_name, shared_classifier
from pipeline.anonymise.recognizers.ner import SPECIFIC_DATE
from pipeline.anonymise.recognizers.tokens import GENERIC_WORDS, TITLES
from pipeline.anonymise.terms import DenyList, TermMatcher, normalise_term, subtract_intervals
from pipeline.anonymise.types import (
    TURN_SEPARATOR,
    AnonymisationResult,
    AnonymisedDocument,
    AnonymisedTurn,
    Span,
)
from pipeline.ingest.types import RawDocument

#: "Jo Smith (social worker)": a name followed by a role note in brackets.
_ROLE_NOTE = re.compile(r"^\s*(?P<name>.*?\S)\s*\((?P<note>[^()]*)\)\s*$")

#: Speaker labels made of these words are roles, not names ("Social Worker 2", "Prevent Lead").
ROLE_WORDS = vocabulary()["role_words"]
#: Organisational units whose local qualifier ("Northmere" in "Northmere MASH") names the site.
LOCAL_UNITS = frozenset(
    normalise_term(t)
    for t in (
        "MASH",
        "YOT",
        "Youth Offending Team",
        "Youth Offending Service",
        "Youth Justice Service",
        "Children's Services",
        "Childrens Services",
        "Children's Social Care",
        "Adult Social Care",
        "Safeguarding Children Partnership",
        "Safeguarding Partnership",
        "Early Help",
        "Front Door",
        "Virtual School",
        "CAMHS",
        "Local Safeguarding Children Board",
        "LSCB",
    )
)
#: Head nouns of small local services and businesses (their names are quasi-identifiers); national
#: bodies end in other heads (Board, Service, Office, Inspectorate, Agency) and stay readable.
LOCAL_ORG_HEADS = frozenset(
    (
        "project", "projects", "centre", "center", "surgery", "practice", "fostering", "placements", "homes", "hub",
        "club", "cafe", "café", "kebabs", "gym", "foyer", "hostel", "pharmacy", "nursery", "academy", "school",
        "college", "church", "mosque", "chapel", "temple", "gurdwara", "takeaway", "shop", "bakery", "barbers",
        "salon", "garage", "pub", "tavern", "inn", "primary", "infants", "juniors", "grammar", "trust",
        "foundation", "charity",
    )
)
_QUALIFIER = re.compile(r"(?<![\w'’-])([A-Z][a-z][\w'’-]*)[ \t]+$")
#: Capitalised words that appear inside name-like spans but never identify anyone on their own.
NEVER_NAMES = vocabulary()["never_names"]
_ROLE_CODE = re.compile(r"^(?:[A-Za-z]{1,4}\s?-?\d{1,3}[a-z]?|[A-Z]{2,5})$")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_PLACE_WORD = re.compile(r"[A-Z][a-z]{3,}(?:-[A-Z]?[a-z]+)*")
_COUNCIL_DOMAIN = re.compile(r"(?:@|\.|//)([a-z]{4,})(?:-council|council)?\.gov\.uk\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$")
_EDGE_PUNCT = ' \t\n,;:!?"“”()[]{}<>'
NER_RECOGNIZER = "InterviewSpacyRecognizer"
RECALL_RECOGNIZER = "RecallFirstRecognizer"
#: Recognisers whose trailing "'s" belongs to the name ("St Bede's" is a school, not Bede's something).
KEEPS_POSSESSIVE = frozenset({"SaintNameRecognizer"})
#: The year of a piece of legislation names no event: "Children Act 1989", "(Wales) Act 2014".
_LEGISLATION_YEAR = re.compile(
    r"\b(?:Act|Acts|Regulations|Order|Measure|Rules|Bill|Code)(?:\s*\([^)\n]{1,40}\))?,?\s+(?P<year>(?:18|19|20)\d{2})\b"
)
#: Characters of text per spaCy batch (see ``Anonymiser._batch_size``).
BATCH_CHAR_BUDGET = 20_000
#: Recognisers that report speaker labels; a label that is a role is not an identifier.
LABEL_RECOGNIZERS = frozenset({"VoiceTagRecognizer", "LineLabelRecognizer", "SpeakerLabelRecognizer"})
#: A common word ("Plan", "Tier") is never taken for a nickname, whatever name it could be cut from.
COMMON_ZIPF = 3.5
#: Words that make a nickname out of the name after them ("Big Pav", "Auntie M", "lil dev").
NICKNAME_PREFIXES = frozenset(
    {"big", "little", "lil", "auntie", "aunty", "uncle", "nanna", "nana", "princess", "baby", "young", "nurse"}
)
_LAST_WORD = re.compile(r"([^\W\d_][\w'’-]*)[ \t]+$")
#: Pattern-matched identifiers: the allow-list never cuts into these ("uk" in an e-mail address).
STRUCTURED_TYPES = frozenset(
    {"EMAIL", "URL", "HANDLE", "PHONE", "NHS_NUMBER", "NI_NUMBER", "POSTCODE", "CASE_REF", "ADDRESS"}
)


@dataclass(slots=True)
class Detection:
    """A span to replace, before pseudonymisation (offsets into one text)."""

    start: int
    end: int
    entity: str
    score: float
    recognizer: str


def _trim(text: str, det: Detection) -> Detection | None:
    """Trim surrounding punctuation and a trailing possessive so "Kyle's" becomes "[PERSON_1]'s"."""
    start, end = det.start, det.end
    while start < end and text[start] in _EDGE_PUNCT + "'’.-":
        start += 1
    while end > start and text[end - 1] in _EDGE_PUNCT:
        end -= 1
    match = re.search(r"['’]s$", text[start:end])
    if match and end - start > 3 and det.recognizer not in KEEPS_POSSESSIVE:
        end -= 2
    while end > start and text[end - 1] in _EDGE_PUNCT + "'’":
        end -= 1
    if end - start < 1 or not any(ch.isalnum() for ch in text[start:end]):
        return None
    return Detection(start, end, det.entity, det.score, det.recognizer)


def _yield_to_patterns(text: str, dets: list[Detection]) -> list[Detection]:
    """Cut statistical NER spans back where they run over a pattern-matched identifier.

    spaCy sometimes glues neighbours onto a postcode or phone number ("ls6 2ab last year" as one DATE);
    the validated pattern is the better boundary, and a leftover that no longer looks like its type
    ("last year") is dropped.
    """
    anchors = [(d.start, d.end) for d in dets if d.entity in STRUCTURED_TYPES]
    if not anchors:
        return dets
    out = []
    for det in dets:
        if det.recognizer != NER_RECOGNIZER or det.entity in STRUCTURED_TYPES:
            out.append(det)
            continue
        for start, end in subtract_intervals(det.start, det.end, anchors):
            piece = text[start:end]
            if det.entity == "DATE" and not SPECIFIC_DATE.search(piece):
                continue
            words = [w.casefold() for w in _WORD.findall(piece)]
            if not any(ch.isdigit() for ch in piece) and all(w in STOP_WORDS for w in words):
                continue  # "the" left over from "the [ADDRESS]"
            out.append(Detection(start, end, det.entity, det.score, det.recognizer))
    return out


def _known(store: PseudonymStore) -> dict[str, set[str]] | None:
    known = getattr(store, "known", None)
    return known() if callable(known) else None


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """Whether [start, end) lies inside one of the sorted ``spans`` (binary search)."""
    i = bisect.bisect_right(spans, (start, float("inf"))) - 1
    return i >= 0 and spans[i][0] <= start and end <= spans[i][1]


def _all_names(surface: str, names: dict[str, bool]) -> bool:
    words = [_POSSESSIVE.sub("", w).casefold() for w in _WORD.findall(surface)]
    return bool(words) and all(w in names for w in words)


def _with_nickname_prefix(text: str, dets: list[Detection]) -> list[Detection]:
    """Extend a masked name over a nickname-making word before it: "Big [Pav]" -> "[Big Pav]".

    "Big Pav" or "Auntie M" is what people call that person; leaving "Big" beside the placeholder tells a
    reader the nickname's shape and, in a small community, who it is.
    """
    out = []
    for det in dets:
        if det.entity == "PERSON":
            last = _LAST_WORD.search(text[max(0, det.start - 20) : det.start])
            if last and last.group(1).casefold() in NICKNAME_PREFIXES:
                det = Detection(det.start - len(last.group(0)), det.end, det.entity, det.score, det.recognizer)
        out.append(det)
    return merge_overlaps(out)


_DATE_JOINER = re.compile(r"\s*(?:,|,?\s*and|or|to|until|-|–|—)\s*", re.IGNORECASE)


def _join_date_ranges(text: str, dets: list[Detection]) -> list[Detection]:
    """One placeholder for a range or list of dates ("12, 14 and 19 January 2019", "3 March to 5 April").

    Why: the parts of a range name one period; masking them apart leaves "[DATE_1] and [DATE_2]" where a
    reader learns nothing more, and a joined span is what a reviewer confirms in one look.
    """
    out: list[Detection] = []
    for det in dets:
        last = out[-1] if out else None
        if (
            last is not None
            and last.entity == det.entity == "DATE"
            and _DATE_JOINER.fullmatch(text[last.end : det.start])
        ):
            out[-1] = Detection(last.start, det.end, "DATE", max(last.score, det.score), last.recognizer)
        else:
            out.append(det)
    return out


def merge_overlaps(detections: Iterable[Detection]) -> list[Detection]:
    """Merge overlapping detections: the union span takes the most specific type among them.

    Privacy first: the union never leaves a fragment of an identifier readable.
    """
    ordered = sorted(detections, key=lambda d: (d.start, -d.end))
    merged: list[Detection] = []
    for det in ordered:
        if merged and det.start < merged[-1].end:
            last = merged[-1]
            winner = min((last, det), key=lambda d: (priority(d.entity), -d.score))
            merged[-1] = Detection(
                last.start,
                max(last.end, det.end),
                winner.entity,
                max(d.score for d in (last, det) if d.entity == winner.entity),
                winner.recognizer,
            )
        else:
            merged.append(det)
    return merged


class _StoreOnly:
    """Wraps a store to hide its term lists once they have been applied (no second merge)."""

    def __init__(self, store: PseudonymStore) -> None:
        self._store = store

    def placeholder(self, entity: str, surface: str) -> str:
        return self._store.placeholder(entity, surface)

    def known(self) -> dict[str, set[str]] | None:
        return _known(self._store)


@dataclass(frozen=True, slots=True)
class _NameKey:
    """A name token to propagate through a document."""

    token: str  # case-folded
    any_case: bool  # also mask lower-case occurrences


class Anonymiser:
    """Detect, protect, merge, propagate and pseudonymise (see the module docstring).

    Build one with ``pipeline.anonymise.build_anonymiser(settings)``; it is reusable and thread-compatible
    for reading (the spaCy pipeline is shared), and keeps no text between calls.
    """

    def __init__(
        self,
        analyzer: AnalyzerEngine,
        *,
        allow: TermMatcher,
        deny: DenyList | None = None,
        gazetteers: Gazetteers | None = None,
        style: str = "placeholder",
        min_score: float = 0.35,
        role_patterns: Sequence[str] = (),
        batch_size: int = 32,
    ) -> None:
        self.analyzer = analyzer
        self.allow = allow
        self.deny = deny or DenyList()
        self.gaz = gazetteers or load_gazetteers()
        self.style = style
        self.min_score = min_score
        self.batch_size = batch_size
        self._role_patterns = [re.compile(p, re.IGNORECASE) for p in role_patterns]
        self._entities = list(ANALYSED_ENTITIES)

    def with_terms(self, allow: Iterable[str] = (), deny: Iterable[tuple[str, str]] = ()) -> Anonymiser:
        """A copy that also honours extra allow and deny terms (shares the analyzer; cheap)."""
        allow, deny = list(allow), list(deny)
        if not allow and not deny:
            return self
        clone = copy.copy(self)
        clone.allow = TermMatcher.of([*self.allow.terms, *allow])
        clone.deny = DenyList.of([*self.deny.entries(), *deny])
        return clone

    def _for_store(self, store: PseudonymStore) -> Anonymiser:
        """Honour the project's reviewed term lists when the store knows them (the database store)."""
        term_lists = getattr(store, "term_lists", None)
        return self.with_terms(*term_lists()) if callable(term_lists) else self

    def __repr__(self) -> str:
        return f"Anonymiser(style={self.style!r}, allow={len(self.allow)}, deny={len(self.deny)})"

    # ------------------------------------------------------------------------------------------------
    # detection
    # ------------------------------------------------------------------------------------------------
    def _batch_size(self, texts: Sequence[str]) -> int:
        """Documents per ``nlp.pipe`` batch, from a character budget.

        Why: many short turns run fastest in large batches, but a batch of long documents is padded and
        held in memory together and runs slower than a few at a time.
        """
        if not texts:
            return 1
        mean_chars = max(1, sum(len(t) for t in texts) // len(texts))
        return max(1, min(self.batch_size, BATCH_CHAR_BUDGET // mean_chars))

    def _analyse(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        """Presidio results per text, with spaCy run once over the whole batch (``nlp.pipe``)."""
        nlp_engine = self.analyzer.nlp_engine
        out: list[list[RecognizerResult]] = []
        artifacts = nlp_engine.process_batch(list(texts), language="en", batch_size=self._batch_size(texts))
        for text, (_, nlp_artifacts) in zip(texts, artifacts, strict=True):
            out.append(
                self.analyzer.analyze(text, language="en", entities=self._entities, nlp_artifacts=nlp_artifacts)
                if text.strip()
                else []
            )
        return out

    def detect(self, texts: Sequence[str]) -> list[list[Detection]]:
        """Detections per text after the allow-list, trimming and merging (no propagation)."""
        results = self._analyse(texts)
        out = []
        for text, found in zip(texts, results, strict=True):
            dets = [
                Detection(
                    r.start,
                    r.end,
                    placeholder_type(r.entity_type),
                    r.score,
                    r.recognition_metadata.get(RecognizerResult.RECOGNIZER_NAME_KEY, "presidio"),
                )
                for r in found
                if r.score >= self.min_score
            ]
            dets = self._trust_ner(text, dets)
            dets.extend(Detection(s, e, entity, 1.0, "DenyList") for s, e, entity in self.deny.find(text))
            dets.extend(self._local_qualifiers(text))
            out.append(self._clean(text, dets))
        return out

    def _trust_ner(self, text: str, dets: list[Detection]) -> list[Detection]:
        """Keep a spaCy name or organisation only where one of its words could identify someone.

        Why: the small NER model reads any capitalised phrase as an organisation or person ("the Integrated
        Care Board", "Universal Credit", "CQC"), which masked the practice vocabulary the analysis codes.
        A span made only of common words and acronyms names a thing, not a person or a local place; the
        recall-first recogniser has already judged every word that could be a name (with its context),
        so a span it flagged nothing in is dropped. Single-word places stay (a town is a quasi-identifier).
        """
        flagged = sorted((d.start, d.end) for d in dets if d.recognizer == RECALL_RECOGNIZER)
        words = shared_classifier(self.gaz)
        kept = []
        for det in dets:
            if det.recognizer != NER_RECOGNIZER or det.entity not in {"PERSON", "ORG", "PLACE"}:
                kept.append(det)
                continue
            tokens = [_POSSESSIVE.sub("", w) for w in _WORD.findall(text[det.start : det.end])]
            if det.entity == "PLACE" and len(tokens) == 1:
                kept.append(det)
                continue
            kinds = [
                Kind.SAFE
                if is_product_name(w) or (w.isupper() and not (len(w) > 3 and words.classify(w)[0] is Kind.NAME))
                else words.classify(w)[0]
                for w in tokens
            ]
            initials = det.entity == "PERSON" and any(len(w.rstrip(".")) == 1 and w.isupper() for w in tokens)
            if initials or any(k in (Kind.NAME, Kind.UNKNOWN) for k in kinds) or any(
                s < det.end and det.start < e for s, e in flagged
            ):
                kept.append(det)
            elif det.entity == "ORG" and tokens[-1].casefold() in LOCAL_ORG_HEADS and any(
                w[:1].isupper() and not w.isupper() and w.casefold() not in STOP_WORDS for w in tokens[:-1]
            ):
                # "the Lighthouse Project", "Marsh Lane Medical Centre": a small local service is a
                # quasi-identifier even when its name is made of common words; a person confirms it.
                kept.append(Detection(det.start, det.end, det.entity, min(det.score, 0.55), det.recognizer))
        return kept

    def _local_qualifiers(self, text: str) -> list[Detection]:
        """The capitalised word naming WHICH local team it is: "Northmere MASH", "Kirkfield Youth Offending Team".

        The unit stays readable (allow-list); the locality before it identifies the site and is masked.
        """
        found = []
        for start, end in self.allow.intervals(text):
            unit = normalise_term(text[start:end])
            if unit not in LOCAL_UNITS:
                continue
            match = _QUALIFIER.search(text, max(0, start - 40), start)
            if match is None:
                continue
            word = match.group(1)
            folded = word.casefold()
            if folded in STOP_WORDS or folded in GENERIC_WORDS or folded in ROLE_WORDS or word in self.allow:
                continue
            before = text[: match.start(1)].rstrip(" \t")
            if (not before or before[-1] in ".!?:\n") and " " not in unit:
                continue  # "Contact MASH ...": a sentence-initial capital before a one-word unit is no evidence
            found.append(Detection(match.start(1), match.end(1), "PLACE", 0.6, "LocalQualifier"))
        return found

    def _clean(self, text: str, dets: Iterable[Detection]) -> list[Detection]:
        dets = _yield_to_patterns(text, list(dets))
        protected = sorted([*self.allow.intervals(text), *(m.span("year") for m in _LEGISLATION_YEAR.finditer(text))])
        deny_spans = {(d.start, d.end) for d in dets if d.recognizer == "DenyList"}
        kept: list[Detection] = []
        for det in dets:
            exempt = (det.start, det.end) in deny_spans or det.entity in STRUCTURED_TYPES
            pieces = [(det.start, det.end)] if exempt else subtract_intervals(det.start, det.end, protected)
            for start, end in pieces:
                trimmed = _trim(text, Detection(start, end, det.entity, det.score, det.recognizer))
                if trimmed is None:
                    continue
                surface = text[trimmed.start : trimmed.end]
                words = [w.casefold() for w in _WORD.findall(surface)]
                cut = len(pieces) > 1 or pieces[0] != (det.start, det.end)
                if (
                    words
                    and not any(ch.isdigit() for ch in surface)
                    and all((cut and w in STOP_WORDS) or w.rstrip(".") in TITLES for w in words)
                    and len(surface) > 1
                ):
                    continue  # "the" left of "the Home Office", or a bare title: names no one
                if trimmed.entity == "ORG" and all(w in STOP_WORDS or w in NEVER_NAMES for w in words):
                    continue  # "the Court", "Government": an institution word names no one
                if trimmed.recognizer in LABEL_RECOGNIZERS and self.is_role_label(surface):
                    continue  # "<v Interviewer>", "P2:" are roles, not names
                kept.append(trimmed)
        return _join_date_ranges(text, merge_overlaps(kept))

    # ------------------------------------------------------------------------------------------------
    # propagation
    # ------------------------------------------------------------------------------------------------
    def _name_keys(self, surface: str) -> list[_NameKey]:
        bare = surface.strip().rstrip(".")
        if len(bare) == 1 and bare.isupper():
            # A one-letter pseudonym ("K") recurs as itself; "I" and "A" are words.
            return [] if bare in {"I", "A"} else [_NameKey(bare.casefold(), False)]
        keys = []
        for word in _WORD.findall(surface):
            word = _POSSESSIVE.sub("", word)
            folded = word.casefold()
            if len(folded) < 2 or folded in STOP_WORDS or folded.rstrip(".") in TITLES or folded in self.allow:
                continue
            known = folded in self.gaz.first_names or folded in self.gaz.surnames
            if not known and (folded in GENERIC_WORDS or folded in ROLE_WORDS or folded in NEVER_NAMES):
                continue  # "Child T", "Case Review": the generic word is not the name
            # A name that is also a word ("Holly") is masked in lower case only where the document itself
            # wrote a name in lower case; "holly on the card" is a plant.
            name_word = shared_classifier(self.gaz).classify(word)[0] is Kind.NAME_WORD
            any_case = (known and not name_word) or word.islower()
            if folded in self.gaz.ambiguous_names:
                any_case = False
            keys.append(_NameKey(folded, any_case))
        return keys

    def _propagate(
        self,
        texts: Sequence[str],
        per_text: list[list[Detection]],
        label_names: Iterable[str],
        known: dict[str, set[str]] | None = None,
    ) -> None:
        """Mask every other occurrence of names (and multi-word entities) found anywhere in the document.

        ``known`` seeds the search with the people and places already pseudonymised in the project, so a
        name detected in one transcript is masked in the next even where no recogniser fires.
        """
        names: dict[str, bool] = {}
        phrases: dict[str, str] = {}
        places: set[str] = set()
        unknowns: set[str] = set()
        for surface in (known or {}).get("PERSON", ()):
            # Seeds from other documents: full names and gazetteer names only, so one misread single
            # word ("Government" as a person) cannot spread through a project.
            keys = self._name_keys(surface)
            if len(keys) < 2 and not any(k.token in self.gaz.first_names or k.token in self.gaz.surnames for k in keys):
                continue
            for key in keys:
                names[key.token] = names.get(key.token, False) or key.any_case
        for surface in (known or {}).get("PLACE", ()):
            if _PLACE_WORD.fullmatch(surface) and surface.casefold() not in self.allow:
                places.add(surface.casefold())
        for text, dets in zip(texts, per_text, strict=True):
            for det in dets:
                surface = text[det.start : det.end]
                if det.entity == "PERSON":
                    for key in self._name_keys(surface):
                        names[key.token] = names.get(key.token, False) or key.any_case
                elif det.entity not in {"DATE", "AGE"} and " " in surface.strip() and len(surface) >= 6:
                    phrases.setdefault(surface.casefold(), det.entity)
                elif (
                    det.entity == "PLACE"
                    and _PLACE_WORD.fullmatch(surface)
                    and surface.casefold() not in self.allow
                    and not is_country(surface)
                ):
                    places.add(surface.casefold())  # "Northmere" found once is Northmere everywhere
                elif det.entity == "NAME" and _WORD.fullmatch(surface) and surface.casefold() not in self.allow:
                    unknowns.add(surface.casefold())  # a rare proper noun, in any casing or position
                elif det.entity in {"EMAIL", "URL"}:
                    # A council's domain names its area: "...@northmere.gov.uk" -> "Northmere".
                    places.update(m.casefold() for m in _COUNCIL_DOMAIN.findall(surface))
        for label in label_names:
            for key in self._name_keys(label):
                names[key.token] = names.get(key.token, False) or key.any_case
        if not names and not phrases and not places and not unknowns:
            return
        # Names and places are single words: one pass over the words of a text with dict look-ups (a regex
        # alternation over a project's worth of names would cost time per character).
        phrase_rx = (
            re.compile(
                r"(?<!\w)(" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + r")(?!\w)",
                re.IGNORECASE,
            )
            if phrases
            else None
        )
        # Nicknames made from a name found here ("Hendo" from "Henderson", "Dazza" from "Darren").
        words = shared_classifier(self.gaz)
        nicknames = NicknameIndex(t for t in names if words.classify(t)[0] is not Kind.SAFE)
        for idx, text in enumerate(texts):
            extra: list[Detection] = []
            for m in _WORD.finditer(text):
                if m.start() > 0 and text[m.start() - 1] == "@":
                    continue  # part of a handle or e-mail address, masked as such
                word = _POSSESSIVE.sub("", m.group(0))
                folded = word.casefold()
                any_case = names.get(folded)
                if any_case is not None and (any_case or word[0].isupper()):
                    extra.append(Detection(m.start(), m.start() + len(word), "PERSON", 0.7, "NamePropagation"))
                elif folded in places and word[0].isupper():
                    extra.append(Detection(m.start(), m.start() + len(word), "PLACE", 0.7, "EntityPropagation"))
                elif folded in unknowns:
                    extra.append(Detection(m.start(), m.start() + len(word), "NAME", 0.5, "EntityPropagation"))
                elif len(nicknames) and not (
                    words.classify(word)[0] is Kind.SAFE and words.lexicon.zipf(word) >= COMMON_ZIPF
                ):
                    before = text[: m.start()]
                    last = _LAST_WORD.search(before[-40:])
                    opening = not before.strip() or before.rstrip()[-1] in ".!?:\n"
                    if nicknames.lookup(word, previous=last.group(1) if last else None, sentence_start=opening):
                        # Doubtful by design: a key holder confirms a derived nickname.
                        extra.append(Detection(m.start(), m.start() + len(word), "PERSON", 0.55, "NicknamePropagation"))
            if phrase_rx is not None:
                for m in phrase_rx.finditer(text):
                    entity = phrases.get(m.group(1).casefold(), "PLACE")
                    extra.append(Detection(m.start(), m.end(), entity, 0.7, "EntityPropagation"))
            covered = per_text[idx]
            # A known name that NER read as a place or organisation ("Did Marcus tell ...") is a person.
            covered = [
                Detection(c.start, c.end, "PERSON", c.score, c.recognizer)
                if c.entity in {"PLACE", "ORG", "NAME"} and _all_names(text[c.start : c.end], names)
                else Detection(c.start, c.end, "PLACE", c.score, c.recognizer)
                if c.entity == "ORG" and text[c.start : c.end].casefold() in places
                else c
                for c in covered
            ]
            per_text[idx] = covered
            spans = sorted((c.start, c.end) for c in covered)
            new = [d for d in extra if not _inside(d.start, d.end, spans)]
            if new:
                per_text[idx] = self._clean(text, covered + new)
            per_text[idx] = _with_nickname_prefix(text, per_text[idx])

    # ------------------------------------------------------------------------------------------------
    # pseudonymisation
    # ------------------------------------------------------------------------------------------------
    def _render(self, entity: str, surface: str, placeholder: str) -> str:
        """What the reader sees: the placeholder, or a marked surrogate name for people."""
        if self.style == "surrogate" and entity == "PERSON":
            return surrogate_text(placeholder, surface, self.gaz)
        return placeholder

    def _replace(
        self, text: str, dets: list[Detection], store: PseudonymStore, offset: int = 0, out_offset: int = 0
    ) -> tuple[str, list[Span]]:
        pieces: list[str] = []
        spans: list[Span] = []
        cursor = 0
        out_len = 0
        for det in dets:
            pieces.append(text[cursor : det.start])
            out_len += det.start - cursor
            surface = text[det.start : det.end]
            placeholder = store.placeholder(det.entity, surface)
            replacement = self._render(det.entity, surface, placeholder)
            spans.append(
                Span(
                    det.start + offset,
                    det.end + offset,
                    det.entity,
                    det.score,
                    placeholder,
                    det.recognizer,
                    out_offset + out_len,
                    out_offset + out_len + len(replacement),
                )
            )
            pieces.append(replacement)
            out_len += len(replacement)
            cursor = det.end
        pieces.append(text[cursor:])
        return "".join(pieces), spans

    # ------------------------------------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------------------------------------
    def anonymise(self, text: str, pseudonyms: PseudonymStore | None = None) -> AnonymisationResult:
        """Anonymise one free text (propagation within the text). Offsets in spans index ``text``."""
        return self.anonymise_many([text], pseudonyms)[0]

    def anonymise_many(
        self, texts: Sequence[str], pseudonyms: PseudonymStore | None = None
    ) -> list[AnonymisationResult]:
        """Anonymise independent texts in one spaCy batch (each text is its own document)."""
        store = pseudonyms if pseudonyms is not None else InMemoryPseudonymStore()
        active = self._for_store(store)
        if active is not self:
            return active.anonymise_many(texts, _StoreOnly(store))
        per_text = self.detect(texts)
        results = []
        for text, dets in zip(texts, per_text, strict=True):
            group = [dets]
            self._propagate([text], group, (), _known(store))
            out, spans = self._replace(text, group[0], store)
            results.append(AnonymisationResult(out, spans))
        return results

    def _label_name_span(self, label: str) -> tuple[int, int]:
        """Offsets of the part of a speaker label that names a person: all of it but a role part.

        "Jo Smith (social worker)" -> "Jo Smith"; "P2 (Dev)" -> "Dev"; "Imran Siddiqui" -> all of it.
        """
        match = _ROLE_NOTE.match(label)
        if match and match.group("note").strip():
            if self.is_role_label(match.group("note")):
                return match.start("name"), match.end("name")
            if self.is_role_label(match.group("name")):
                note = match.group("note")
                lead = len(note) - len(note.lstrip())
                return match.start("note") + lead, match.start("note") + len(note.rstrip())
        return 0, len(label)

    def is_role_label(self, label: str) -> bool:
        """True when a speaker label names a role ("Interviewer", "P3", "Social Worker 2"), not a person.

        Every word must be role-like: "P2 (Dev)" is not a role label, because "Dev" is a name.
        """
        stripped = label.strip().strip(":").strip()
        if self._is_name_word(stripped):
            return False  # "KYLE" looks like a code but is a name
        if not stripped or stripped in self.allow or _ROLE_CODE.match(stripped):
            return True
        words = re.findall(r"[^\W_]+", stripped)
        return bool(words) and all(self._role_word(w) for w in words)

    def _is_name_word(self, word: str) -> bool:
        folded = word.casefold()
        return folded in self.gaz.first_names or folded in self.gaz.surnames or folded in self.gaz.ambiguous_names

    def _role_word(self, word: str) -> bool:
        folded = word.casefold()
        if self._is_name_word(word) and folded not in ROLE_WORDS:
            return False
        return (
            folded in ROLE_WORDS
            or folded.isdigit()
            or folded in self.allow
            or bool(_ROLE_CODE.match(word))
            or any(p.fullmatch(folded) for p in self._role_patterns)
        )

    def anonymise_document(self, raw_doc: RawDocument, pseudonyms: PseudonymStore | None = None) -> AnonymisedDocument:
        """Anonymise a transcript: turn texts, and speaker labels that are names.

        The document text is the anonymised turn texts joined by a blank line; span offsets index the
        original turn texts joined the same way, and the anonymised text.
        """
        store = pseudonyms if pseudonyms is not None else InMemoryPseudonymStore()
        active = self._for_store(store)
        if active is not self:
            return active.anonymise_document(raw_doc, _StoreOnly(store))
        texts = [turn.text for turn in raw_doc.turns]
        labels = sorted({t.speaker.strip() for t in raw_doc.turns if t.speaker and t.speaker.strip()})
        name_labels = [label for label in labels if not self.is_role_label(label)]
        detected = self.detect([*texts, *name_labels])
        per_text, per_label = detected[: len(texts)], detected[len(texts) :]
        # A label that is not a role names a person, whether or not a recogniser fires on all of it: mask
        # the whole name part ("Imran Siddiqui", "Bex", "Dev T"), keeping only a trailing role note such as
        # "(social worker)". Masking just the recognised first name would leave the surname readable.
        label_names: list[str] = []
        for k, (label, dets) in enumerate(zip(name_labels, per_label, strict=True)):
            start, end = self._label_name_span(label)
            score = max((d.score for d in dets), default=0.9)
            per_label[k] = [Detection(start, end, "PERSON", score, "SpeakerLabel")]
            label_names.append(label[start:end])
        self._propagate(texts, per_text, label_names, _known(store))

        label_out: dict[str, str] = {}
        for label, dets in zip(name_labels, per_label, strict=True):
            label_out[label], _ = self._replace(label, dets, store)

        pieces: list[str] = []
        turns: list[AnonymisedTurn] = []
        spans: list[Span] = []
        in_offset = out_offset = 0
        for i, (turn, dets) in enumerate(zip(raw_doc.turns, per_text, strict=True)):
            if i:
                pieces.append(TURN_SEPARATOR)
                in_offset += len(TURN_SEPARATOR)
                out_offset += len(TURN_SEPARATOR)
            out, turn_spans = self._replace(turn.text, dets, store, in_offset, out_offset)
            speaker = turn.speaker.strip() if turn.speaker else None
            speaker = label_out.get(speaker, speaker) if speaker else turn.speaker
            turns.append(
                AnonymisedTurn(speaker, turn.role, out_offset, out_offset + len(out), turn.start_time, turn.end_time)
            )
            pieces.append(out)
            spans.extend(turn_spans)
            in_offset += len(turn.text)
            out_offset += len(out)
        replaced_labels = sum(1 for t in raw_doc.turns if t.speaker and t.speaker.strip() in label_out)
        return AnonymisedDocument("".join(pieces), turns, spans, replaced_labels)
