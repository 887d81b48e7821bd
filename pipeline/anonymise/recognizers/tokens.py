"""Token-level recognisers: names from gazetteers and context, places, schools, places of worship, streets.

Why token-based rather than giant regex alternations: spaCy has already tokenised and tagged the text
for the NER step, so a set look-up per token is cheap, and the part-of-speech tag lets us tell "left
school" (a verb) from "Oakwood school" (a name) even in lower-case speech-recognition output, where
capitalisation carries no signal.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.tokens import Doc, Token

from pipeline.anonymise.gazetteers import Gazetteers, vocabulary

NAME_POS = frozenset({"PROPN", "NOUN", "X"})
#: Words after which a name usually follows ("her lad kyle"); the lists live in data/vocabulary.yaml.
RELATION_WORDS = vocabulary()["relation_words"]
NAME_INTRO = re.compile(r"(?i)^(?:called|named|nicknamed|name's|name is|known as)$")
#: Titles that introduce a name ("Mrs Ahmed", "DC Price").
TITLES = vocabulary()["titles"]
#: Lower-case words that never start or continue a proper name even when tagged as nouns.
GENERIC_WORDS = vocabulary()["generic_words"]
#: Street words that are part of institution names in lower-case speech ("green lane mosque").
STREET_WORDS = vocabulary()["street_words"]
_SENTENCE_END = frozenset({".", "?", "!", ":", ";", '"', "“", "”", "-", "–", "—", "…"})


def result(entity: str, start: int, end: int, score: float, recognizer: EntityRecognizer) -> RecognizerResult:
    """A ``RecognizerResult`` carrying the recogniser name (for the anonymisation log)."""
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


#: Penn Treebank tag -> universal part of speech, for pipelines run without the attribute ruler.
_TAG_TO_POS = {
    "NNP": "PROPN",
    "NNPS": "PROPN",
    "NN": "NOUN",
    "NNS": "NOUN",
    "JJ": "ADJ",
    "JJR": "ADJ",
    "JJS": "ADJ",
    "MD": "AUX",
    "PRP": "PRON",
    "PRP$": "PRON",
    "WP": "PRON",
    "WP$": "PRON",
    "DT": "DET",
    "PDT": "DET",
    "WDT": "DET",
    "IN": "ADP",
    "CD": "NUM",
    "RB": "ADV",
    "RBR": "ADV",
    "RBS": "ADV",
    "WRB": "ADV",
    "UH": "INTJ",
    "CC": "CCONJ",
    "RP": "PART",
    "TO": "PART",
    "POS": "PART",
    "SYM": "SYM",
    "FW": "X",
}


def coarse_pos(tag: str) -> str:
    """The universal POS for a fine tag ("VBD" -> "VERB", "NNP" -> "PROPN")."""
    if tag.startswith("VB"):
        return "VERB"
    if tag in _TAG_TO_POS:
        return _TAG_TO_POS[tag]
    return "PUNCT" if tag and not tag[0].isalpha() else "X"


class Tok:
    """The few attributes of a spaCy token the recognisers read, copied once per document.

    Why: every attribute access on a spaCy ``Doc`` builds a fresh ``Token`` object; the token recognisers
    read each token several times, so copying the attributes once per document is far cheaper.
    """

    __slots__ = (
        "idx", "is_alpha", "is_lower", "is_punct", "is_space", "is_stop", "like_num", "lower_", "pos_", "tag_", "text"
    )

    def __init__(self, token: Token) -> None:
        self.text: str = token.text
        self.lower_: str = token.lower_
        self.tag_: str = token.tag_
        self.pos_: str = token.pos_ or coarse_pos(token.tag_)
        self.idx: int = token.idx
        self.is_alpha: bool = token.is_alpha
        self.is_lower: bool = token.is_lower
        self.is_punct: bool = token.is_punct
        self.is_space: bool = token.is_space
        self.is_stop: bool = token.is_stop
        self.like_num: bool = token.like_num

    def __repr__(self) -> str:
        return f"Tok(pos={self.pos_!r}, chars={len(self.text)})"


@dataclass(frozen=True, slots=True)
class TokenTable:
    """A document's tokens as ``Tok`` objects, plus facts about the whole document."""

    toks: list[Tok]
    lower_doc: bool  # speech-recognition style: (almost) no capitals anywhere

    def __len__(self) -> int:
        return len(self.toks)

    def __getitem__(self, i: int) -> Tok:
        return self.toks[i]

    def end_char(self, i: int) -> int:
        tok = self.toks[i]
        return tok.idx + len(tok.text)


def token_table(doc: Doc) -> TokenTable:
    """The ``TokenTable`` of ``doc``, built once and kept in ``doc.user_data`` for the other recognisers."""
    cached = doc.user_data.get("qualcode_tokens")
    if cached is None:
        toks = [Tok(t) for t in doc]
        cached = TokenTable(toks, _mostly_lower(toks))
        doc.user_data["qualcode_tokens"] = cached
    return cached


def is_sentence_start(doc: TokenTable, i: int) -> bool:
    """True when token ``i`` opens a sentence or line (capitals there say nothing about names)."""
    j = i - 1
    while j >= 0 and doc[j].is_space and "\n" not in doc[j].text:
        j -= 1
    return j < 0 or doc[j].text in _SENTENCE_END or "\n" in doc[j].text


def is_capitalised(token: Tok) -> bool:
    text = token.text
    return (len(text) > 1 and text[0].isupper() and not text.isupper()) or (text.isupper() and len(text) > 2)


def _mostly_lower(toks: list[Tok]) -> bool:
    """Speech-recognition output: almost no capitals, so capitalisation cannot be used as evidence."""
    alpha = [t for t in toks if t.is_alpha]
    if len(alpha) < 4:
        return all(t.is_lower for t in alpha)
    return sum(1 for t in alpha if t.text[0].isupper()) / len(alpha) < 0.03


def _next_to_number(doc: TokenTable, i: int) -> bool:
    return (i > 0 and doc[i - 1].like_num) or (i + 1 < len(doc) and doc[i + 1].like_num)


class _TokenRecognizer(LocalRecognizer):
    """Base class: recognisers that read spaCy tokens from the shared ``NlpArtifacts``."""

    ENTITY = ""

    def __init__(self, gazetteers: Gazetteers) -> None:
        super().__init__(supported_entities=[self.ENTITY], name=type(self).__name__)
        self.gaz = gazetteers

    def load(self) -> None:
        """Gazetteers are passed in; nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if nlp_artifacts is None or nlp_artifacts.tokens is None:
            return []
        return list(self.find(token_table(nlp_artifacts.tokens)))

    @abstractmethod
    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        """The results found in one document's token table."""


class FirstNameRecognizer(_TokenRecognizer):
    """First names from the gazetteer in any casing, extended over a following surname.

    Names that are also ordinary words ("Will", "Rose", "holly") are left to the recall-first recogniser
    (``candidates.py``), which reads their context; in all-lower-case text every other gazetteer name counts.
    """

    ENTITY = "PERSON"

    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        from pipeline.anonymise.recognizers.candidates import Kind, shared_classifier

        words = shared_classifier(self.gaz)
        lower_doc = doc.lower_doc
        n = len(doc)
        i = 0
        while i < n:
            tok = doc[i]
            folded = tok.lower_
            score = 0.0
            prev = doc[i - 1].lower_ if i > 0 else ""
            if tok.is_alpha and words.classify(tok.text)[0] is Kind.NAME_WORD:
                pass  # the recall-first recogniser judges names that are also words
            elif folded in self.gaz.first_names and tok.is_alpha:
                if tok.text[0].isupper() or lower_doc:
                    score = 0.8
                elif prev in RELATION_WORDS or tok.pos_ == "PROPN":
                    score = 0.75
                else:
                    score = 0.6
            if score == 0.0:
                i += 1
                continue
            end = i + 1
            # Extend over initials and a surname: "Ayesha Ahmed", "jo smith", "Kyle J. Barnes".
            while end < n and end - i < 4:
                nxt = doc[end]
                if (
                    nxt.lower_ in self.gaz.surnames
                    or (is_capitalised(nxt) and nxt.pos_ == "PROPN" and not nxt.is_stop)
                    or re.fullmatch(r"[A-Z]\.?", nxt.text)
                ):
                    end += 1
                else:
                    break
            yield result(self.ENTITY, tok.idx, doc[end - 1].idx + len(doc[end - 1].text), score, self)
            i = end


class ContextNameRecognizer(_TokenRecognizer):
    """A name introduced by context: "her lad kyle", "a boy called zakariya", "my mate dev".

    Low confidence by design: a person confirms these in review, and the decision feeds the deny list.
    """

    ENTITY = "PERSON"

    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        for i in range(1, len(doc)):
            prev, tok = doc[i - 1], doc[i]
            if not (prev.lower_ in RELATION_WORDS or NAME_INTRO.match(prev.text)):
                continue
            if not tok.is_alpha or tok.is_stop or len(tok.text) < 2 or tok.lower_ in GENERIC_WORDS:
                continue
            if tok.lower_ in self.gaz.first_names or tok.lower_ in self.gaz.ambiguous_names:
                continue  # FirstNameRecognizer reports these with a better score
            if prev.lower_ in {"called", "named", "nicknamed"} or tok.pos_ == "PROPN" or is_capitalised(tok):
                yield result(self.ENTITY, tok.idx, tok.idx + len(tok.text), 0.5, self)


class TitleNameRecognizer(_TokenRecognizer):
    """A title followed by a name or initials: "Mrs Ahmed", "mr k", "Mr Z.M. Necatigil", "DC Price"."""

    ENTITY = "PERSON"
    _INITIALS = re.compile(r"^(?:[A-Z]\.)+[A-Z]?\.?$|^[A-Z]$")

    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        n = len(doc)
        for i, tok in enumerate(doc):
            if tok.lower_.rstrip(".") not in TITLES:
                continue
            # Titles that are also words ("judge", "father", "lady") need a capital.
            if (
                tok.lower_ not in {"mr", "mrs", "ms", "miss", "mx", "dr", "mr.", "mrs.", "ms.", "dr."}
                and not tok.text[0].isupper()
            ):
                continue
            j = i + 1
            if j < n and doc[j].text == ".":
                j += 1
            end = j
            while end < n and end - j < 4:
                nxt = doc[end]
                if (
                    self._INITIALS.match(nxt.text)
                    or (is_capitalised(nxt) and not nxt.is_stop and nxt.is_alpha)
                    or (
                        nxt.is_alpha
                        and nxt.is_lower
                        and end == j
                        and not nxt.is_stop
                        and nxt.lower_ not in GENERIC_WORDS
                    )
                ):
                    end += 1
                    if doc[end - 1].is_lower:
                        break
                else:
                    break
            if end > j:
                last = doc[end - 1]
                yield result(self.ENTITY, tok.idx, last.idx + len(last.text), 0.85, self)


class InitialsRecognizer(_TokenRecognizer):
    """Initials standing for a person ("D.R.", "A.B.") outside well-known abbreviations."""

    ENTITY = "PERSON"
    _PATTERN = re.compile(r"^(?:[A-Z]\.){2,3}$")
    _KNOWN = frozenset({"U.K.", "U.S.", "E.U.", "U.N.", "A.M.", "P.M.", "E.G.", "I.E.", "N.B.", "D.O.B."})

    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        for tok in doc:
            if self._PATTERN.match(tok.text) and tok.text.upper() not in self._KNOWN:
                yield result(self.ENTITY, tok.idx, tok.idx + len(tok.text), 0.6, self)


class PlaceGazetteerRecognizer(_TokenRecognizer):
    """English local authorities, counties and towns from the gazetteer, in any casing (n-gram look-up)."""

    ENTITY = "LOCATION"

    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        n = len(doc)
        width = self.gaz.max_place_words
        i = 0
        while i < n:
            matched = 0
            for w in range(min(width, n - i), 0, -1):
                key = " ".join(doc[k].lower_ for k in range(i, i + w))
                if key in self.gaz.places:
                    if w == 1 and key in self.gaz.ambiguous_places and not doc[i].text[0].isupper():
                        continue
                    matched = w
                    break
            if matched:
                yield result(self.ENTITY, doc[i].idx, doc.end_char(i + matched - 1), 0.7, self)
                i += matched
            else:
                i += 1


class NamedInstitutionRecognizer(_TokenRecognizer):
    """Named schools, places of worship and streets: "St Mary's Primary", "oakwood academy",
    "Green Lane Mosque", "12 Elm Road".

    Finds a keyword and walks back over name-like tokens (capitalised, or lower-case nouns that are not
    generic words), so "the local school" and "left school" are not matched.
    """

    ENTITY = ""
    KEYWORDS: frozenset[str] = frozenset()
    FORWARD_KEYWORDS: frozenset[str] = frozenset()  # keyword first: "Masjid Al-Noor"
    CAPITALISED_ONLY: frozenset[str] = frozenset()  # keywords that are ordinary words in lower case
    HOUSE_NUMBERS = False
    SCORE = 0.75

    def _name_like(self, tok: Tok, lower_doc: bool) -> bool:
        if tok.lower_ in {"st", "st."}:
            return True
        if tok.is_punct or tok.is_space or tok.like_num or tok.is_stop:
            return False
        if tok.text[0].isupper():
            return True  # "Green Lane Mosque": capitalised generic words are part of the name
        if tok.lower_ in STREET_WORDS:
            return True  # "green lane mosque", "park road school"
        if tok.lower_ in GENERIC_WORDS:
            return False
        return tok.pos_ in NAME_POS or (tok.pos_ == "ADJ" and lower_doc)

    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        lower_doc = doc.lower_doc
        n = len(doc)
        i = 0
        while i < n:
            tok = doc[i]
            key = tok.lower_
            if key not in self.KEYWORDS and key not in self.FORWARD_KEYWORDS:
                i += 1
                continue
            if key in self.CAPITALISED_ONLY and not tok.text[0].isupper():
                i += 1
                continue
            end = i + 1
            while end < n and doc[end].lower_ in self.KEYWORDS:
                end += 1
            start = i
            j = i - 1
            while j >= 0 and i - j <= 4:
                cand = doc[j]
                if cand.lower_ in {"'s", "’s", "'", "’"} and j > 0:
                    j -= 1
                    continue
                if self._name_like(cand, lower_doc):
                    start = j
                    j -= 1
                else:
                    break
            keyword_end = end
            if key in self.FORWARD_KEYWORDS and start == i:
                while end < n and end - i <= 3 and (doc[end].text[0].isupper() or doc[end].text == "-"):
                    end += 1
            if start == i and end == keyword_end:  # a bare keyword ("the school") names nothing
                i = end
                continue
            if self.HOUSE_NUMBERS and start > 0 and re.fullmatch(r"\d{1,4}[a-zA-Z]?", doc[start - 1].text):
                start -= 1
            yield result(self.ENTITY, doc[start].idx, doc[end - 1].idx + len(doc[end - 1].text), self.SCORE, self)
            i = end


class SchoolRecognizer(NamedInstitutionRecognizer):
    """Named schools: "St Mary's Primary", "oakwood academy", "Northfield High School" (not "the school")."""

    ENTITY = "SCHOOL"
    KEYWORDS = frozenset(
        [
            "school",
            "academy",
            "primary",
            "college",
            "infants",
            "juniors",
            "nursery",
            "grammar",
            "high",
            "secondary",
            "sixth",
            "form",
            "pru",
        ]
    )
    CAPITALISED_ONLY = frozenset({"high", "college", "grammar", "sixth", "form", "juniors"})


class PlaceOfWorshipRecognizer(NamedInstitutionRecognizer):
    """Named places of worship: "Green Lane Mosque", "Jamia Masjid Ghausia", "St Anne's Church"."""

    ENTITY = "PLACE_OF_WORSHIP"
    KEYWORDS = frozenset(
        [
            "mosque",
            "masjid",
            "church",
            "gurdwara",
            "temple",
            "mandir",
            "synagogue",
            "chapel",
            "cathedral",
            "madrassa",
            "madrasa",
            "kingdom",
            "hall",
        ]
    )
    FORWARD_KEYWORDS = frozenset({"masjid", "gurdwara", "jamia"})
    CAPITALISED_ONLY = frozenset({"hall", "kingdom"})


class StreetAddressRecognizer(NamedInstitutionRecognizer):
    """Streets and estates with an optional house number: "27 Larch Close", "the greenhill estate"."""

    ENTITY = "ADDRESS"
    KEYWORDS = frozenset(
        [
            "road",
            "rd",
            "street",
            "avenue",
            "ave",
            "lane",
            "close",
            "drive",
            "crescent",
            "grove",
            "terrace",
            "gardens",
            "mews",
            "walk",
            "way",
            "place",
            "square",
            "rise",
            "parade",
            "estate",
        ]
    )
    CAPITALISED_ONLY = frozenset({"walk", "way", "place", "court", "square", "rise", "parade", "gardens", "rd", "ave"})
    HOUSE_NUMBERS = True
    SCORE = 0.7
