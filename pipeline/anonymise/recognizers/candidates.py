"""Recall first: every token that could be part of a name and is not known to be safe is a candidate.

Why: the other recognisers list what to mask (patterns, a gazetteer, spaCy's NER), so any name outside
their lists survived, silently. The de-identification systems with the best published recall turn the
question around (Philter masks every token that is not on a list of safe words). This recogniser asks of
every word "is this known to be safe?", with the answer from data packages rather than hand lists
(``pipeline.anonymise.lexicon``: name ranks from names-dataset, word frequencies from wordfreq, a
dictionary from english-words). Each word falls in one of four classes:

- **name**: a ranked first name or surname that the dictionary does not list as a common word and that
  is not much more frequent than its rank predicts ("Leanne", "Shawcross", "Abiodun"): masked in any
  casing (lower case only in speech-recognition style text or where it is not a frequent string);
- **name-word**: a name that is also a word ("Joy", "Ivy", "Hunter", "Mark"): context decides. A capital
  mid-sentence masks it, unless it modifies the noun after it ("Grace period", "Summer holidays") or
  follows a determiner ("the Court"); in lower case only words that introduce a name count ("her
  sister ivy", "me and joy", "joy said"), so "no joy from the school" stays;
- **unknown**: neither a ranked name nor a dictionary word, and rare ("Kilnbeck", "Dazza"): a capital
  mid-sentence masks it as a doubtful candidate, and so does rarity in speech-recognition output;
- **safe**: everything else (common words, stop words, acronyms, product names in CamelCase).

Scores carry the doubt: clear names score at or above the review threshold (0.6) and are applied; doubtful
candidates score below it, so a key holder confirms them and the transcript is held until then
(``QUALCODE_RELEASE``). The allow list and the domain vocabulary are applied afterwards by the
anonymiser, so practice terms stay readable whatever this recogniser says.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from enum import Enum

from presidio_analyzer import RecognizerResult

from pipeline.anonymise.gazetteers import Gazetteers, vocabulary
from pipeline.anonymise.lexicon import Lexicon, fold, load_lexicon
from pipeline.anonymise.recognizers.tokens import (
    NAME_INTRO,
    RELATION_WORDS,
    TITLES,
    TokenTable,
    _TokenRecognizer,
    is_sentence_start,
    result,
)

#: Below this Zipf frequency a string is rare enough to be a candidate when nothing says it is safe.
RARE_ZIPF = 3.0
#: In speech-recognition output a lower-case string this rare is a candidate.
RARE_ZIPF_LOWER = 2.0
#: A name-word more frequent than its rank predicts by this much is read as a word even with a capital.
WORD_EXCESS_CAPITAL = 2.5
#: A ranked name less frequent than this (and not a dictionary word) is masked in lower case too.
LOWER_NAME_ZIPF = 4.0
#: A name-word at most this much more frequent than its rank predicts leans towards being a name.
NAME_LEANING = 0.7
#: A ranked name at most this much more frequent than its rank predicts counts as a name.
NAME_EXCESS = 1.0

def _countries() -> frozenset[str]:
    """Countries and the UK's nations: too large to identify anyone, and parts of many bodies' names."""
    import pycountry

    names: set[str] = set()
    for country in pycountry.countries:
        names.update(fold(getattr(country, attr, "")) for attr in ("name", "common_name", "official_name"))
    for sub in pycountry.subdivisions.get(country_code="GB") or ():
        if sub.type.casefold() in {"country", "nation", "province"}:
            names.add(fold(sub.name))
    return frozenset(w for name in names for w in name.split() if len(w) > 3) - {"republic", "islands"}


_COUNTRY_WORDS = _countries()
_CALENDAR = frozenset(
    w.casefold() for w in (*calendar.month_name[1:], *calendar.day_name, *calendar.month_abbr[1:], *calendar.day_abbr)
)
_ROLE_WORDS = vocabulary()["role_words"]
_NEVER_NAMES = vocabulary()["never_names"]
#: Words after which the word before names a place ("Ashcombe County Council", "Brackley estate").
_PLACE_HEADS = frozenset({"council", "county", "borough", "city", "town", "district", "estate", "village", "ward"})
_PLACE_PREPOSITIONS = frozenset({"in", "at", "from", "near", "round", "around", "outside", "towards", "over"})
_DETERMINERS = frozenset({"a", "an", "the", "this", "that", "these", "those", "every", "each", "no", "any", "some"})
_CALL_WORDS = frozenset({"call", "calls", "called", "calling"})
_OBJECT_PRONOUNS = frozenset({"me", "him", "her", "them", "us", "it"})
_POSSESSIVES = frozenset({"my", "your", "his", "her", "our", "their", "its", "no", "'s", "’s"})
#: Words before a person as an object ("spoke to donna", "rang kyle").
_PERSON_OBJECT_WORDS = frozenset(
    {"to", "told", "asked", "rang", "phoned", "texted", "met", "saw", "visited", "called"}
)
#: Words after a sentence-initial verb ("Mark it as urgent", "Bill them monthly").
_OBJECT_WORDS = frozenset(
    {"it", "them", "him", "her", "me", "us", "this", "that", "the", "a", "an", "down", "up", "off", "of", "my",
     "your", "his", "our", "their", "as"}
)
_SPEECH_VERBS = frozenset(
    {"said", "says", "told", "tells", "reckons", "reckoned", "asked", "asks", "rang", "texted", "messaged"}
)
_SUBJECT_VERBS = _SPEECH_VERBS | {
    "goes", "went", "was", "is", "has", "had", "did", "does", "would", "will", "can", "could", "kicked", "came",
    "come", "got", "wants", "wanted", "knows", "knew",
}
_FAMILY_AFTER = frozenset(
    {"mum", "mam", "mom", "dad", "nan", "nana", "gran", "brother", "sister", "auntie", "uncle", "mate", "boyfriend",
     "girlfriend", "partner", "family", "house", "school", "bedroom", "phone", "social", "worker", "teacher", "case"}
)
_INTERNAL_CAPITAL = re.compile(r"^(?!(?:Mc|Mac|O'|O’|D'|D’|De|Di|Da|La|Le|Van|Von)[A-Z])[A-Z]?[a-z]+[A-Z]")
_NAME_JOINERS = frozenset({"-", "'", "’"})


class Kind(Enum):
    """What a word is likely to be (see the module docstring)."""

    SAFE = "safe"
    NAME = "name"
    NAME_WORD = "name-word"
    UNKNOWN = "unknown"


class WordClassifier:
    """Classifies single words with the lexicon; cached per folded form (a transcript repeats itself)."""

    def __init__(self, lexicon: Lexicon, gazetteers: Gazetteers | None = None) -> None:
        self.lexicon = lexicon
        self._cache: dict[str, tuple[Kind, float]] = {}
        self._known_names = gazetteers.first_names | gazetteers.surnames if gazetteers else frozenset()
        self._ambiguous = gazetteers.ambiguous_names if gazetteers else frozenset()
        # Towns and authorities the place gazetteer types as places (a surname "Bradford" is rarer).
        self._places = gazetteers.places if gazetteers else frozenset()

    def classify(self, word: str) -> tuple[Kind, float]:
        """(kind, word excess) of a word; excess is 0 for words that are not ranked names."""
        folded = word.casefold()
        hit = self._cache.get(folded)
        if hit is None:
            hit = self._classify(folded)
            if len(self._cache) < 500_000:
                self._cache[folded] = hit
        return hit

    def _classify(self, folded: str) -> tuple[Kind, float]:
        if len(folded) < 2 or folded in _CALENDAR or folded in TITLES or folded.rstrip(".") in TITLES:
            return Kind.SAFE, 0.0
        if folded in _ROLE_WORDS or folded in _NEVER_NAMES:
            return Kind.SAFE, 0.0
        if folded in self._places:
            return Kind.SAFE, 0.0  # the place gazetteer masks it, as a place
        lx = self.lexicon
        excess = lx.word_excess(folded)
        dictionary = lx.dictionary_word(folded)
        if fold(folded) in _COUNTRY_WORDS and not (lx.name(folded).first_gb and (excess or 9) < NAME_EXCESS):
            return Kind.SAFE, 0.0  # a country names no one, unless it is mostly a first name here ("Jordan")
        if folded in self._ambiguous:
            return Kind.NAME_WORD, excess if excess is not None else 1.5
        info = lx.name(folded)
        if (
            excess is not None
            and not info.uk_rank()
            and lx.zipf(folded) >= RARE_ZIPF
            and not (len(folded) > 3 and info.first_best and info.first_best <= 100)
        ):
            excess = None  # ranked only abroad, and a frequent string here ("um", "erm"): not evidence
        if excess is not None:
            if not dictionary and excess < NAME_EXCESS:
                return Kind.NAME, excess
            if not lx.name(folded).uk_rank() and excess >= NAME_EXCESS:
                return Kind.SAFE, 0.0  # ranked only abroad and mostly a word here ("Maps", "Line")
            return Kind.NAME_WORD, excess
        if folded in self._known_names:
            return Kind.NAME, 0.0
        if not dictionary and lx.zipf(folded) < RARE_ZIPF:
            return Kind.UNKNOWN, 0.0
        return Kind.SAFE, 0.0


class RecallFirstRecognizer(_TokenRecognizer):
    """Masks every token that could be part of a name and is not known to be safe (module docstring)."""

    ENTITY = "PERSON"

    def __init__(self, gazetteers: Gazetteers, lexicon: Lexicon | None = None) -> None:
        super().__init__(gazetteers)
        self.supported_entities = ["NAME_CANDIDATE", "PLACE_CANDIDATE", "UNKNOWN_CANDIDATE"]
        self.words = WordClassifier(lexicon, gazetteers) if lexicon else shared_classifier(gazetteers)

    def find(self, doc: TokenTable) -> Iterable[RecognizerResult]:
        n = len(doc)
        marks: list[tuple[float, str] | None] = [None] * n
        kinds: list[tuple[Kind, float] | None] = [None] * n
        for i in range(n):
            tok = doc[i]
            if not tok.is_alpha or len(tok.text) < 2:
                continue
            kinds[i] = self.words.classify(tok.text)
        for i in range(n):
            if kinds[i] is not None:
                marks[i] = self._judge(doc, i, kinds)
                mark, kind = marks[i], kinds[i]
                if mark is not None and kind[0] is not Kind.NAME and i + 1 < n and doc[i + 1].lower_ in _PLACE_HEADS:
                    marks[i] = (mark[0], "LOCATION")  # "Kirkfield County Council", "the Moss estate"
        # Full names: a masked token pulls in a capitalised name-like neighbour ("Will Hartigan"), and a
        # masked token pulls in an initial after it ("Princess P").
        for i in range(n - 1):
            nxt = doc[i + 1]
            initial = len(nxt.text) == 1 and nxt.text.isupper() and nxt.text not in {"I", "A"}
            if marks[i] is not None and marks[i + 1] is None and initial and nxt.idx == doc.end_char(i) + 1:
                marks[i + 1] = marks[i]
        for i in range(n):
            if marks[i] is None or marks[i][0] < 0.6:
                continue
            for j in (i - 1, i + 1):
                if 0 <= j < n and marks[j] is None and kinds[j] is not None and self._joins(doc, j, kinds[j]):
                    marks[j] = (0.6, marks[i][1])
        i = 0
        while i < n:
            if marks[i] is None:
                i += 1
                continue
            start = i
            score, entity = marks[i]
            end = i + 1
            while end < n:
                if marks[end] is not None and doc[end].idx == doc.end_char(end - 1) + 1:
                    score, entity = max(score, marks[end][0]), _prefer(entity, marks[end][1])
                    end += 1
                elif (
                    end + 1 < n
                    and doc[end].text in _NAME_JOINERS
                    and marks[end + 1] is not None
                    and doc[end].idx == doc.end_char(end - 1)
                    and doc[end + 1].idx == doc.end_char(end)
                ):
                    score, entity = max(score, marks[end + 1][0]), _prefer(entity, marks[end + 1][1])
                    end += 2  # "kerry-ann", "O'Neill" split by the tokenizer
                else:
                    break
            yield result(_ENTITY[entity], doc[start].idx, doc.end_char(end - 1), score, self)
            i = end

    def _joins(self, doc: TokenTable, j: int, kind: tuple[Kind, float]) -> bool:
        tok = doc[j]
        if tok.is_stop or not tok.text[:1].isupper() or tok.text.isupper():
            return False
        return kind[0] is not Kind.SAFE

    def _judge(self, doc: TokenTable, i: int, kinds: list[tuple[Kind, float] | None]) -> tuple[float, str] | None:
        """(score, entity) when token ``i`` should be masked, else None; the score carries the doubt."""
        tok = doc[i]
        kind = kinds[i][0]  # type: ignore[index]
        text = tok.text
        prev = doc[i - 1].lower_ if i > 0 else ""
        prev2 = doc[i - 2].lower_ if i > 1 else ""
        introduced = (
            bool(NAME_INTRO.match(prev))
            or prev in _CALL_WORDS
            or (prev in _OBJECT_PRONOUNS and prev2 in _CALL_WORDS)  # "she calls me Sausage"
        )
        if text.isupper():
            # Acronyms are practice vocabulary (CAMHS, LADO); a name in capitals ("KYLE") still counts.
            return (0.7, "PERSON") if kind is Kind.NAME and len(text) > 3 else None
        capital = text[0].isupper() and not doc.lower_doc  # in caption-style text case says nothing
        if capital and is_product_name(text):
            return None  # SystmOne, WhatsApp: product names
        if kind is Kind.SAFE:
            # "we call him Sausage": a common word given as a name.
            return (0.5, "PERSON") if introduced and (capital or doc.lower_doc) and not tok.is_stop else None
        relation = prev in RELATION_WORDS or introduced or (prev in {"and", "with"} and prev2 == "me")
        determiner = prev in _DETERMINERS
        sentence_start = is_sentence_start(doc, i)
        if kind is Kind.NAME:
            if determiner and not capital:
                return None
            if capital or doc.lower_doc or relation or self.words.lexicon.zipf(text) < LOWER_NAME_ZIPF:
                return (0.85 if capital and not sentence_start else 0.75), "PERSON"
            return None
        if kind is Kind.NAME_WORD:
            return self._judge_name_word(doc, i, kinds, capital=capital, relation=relation, determiner=determiner)
        # Kind.UNKNOWN: neither a ranked name nor a dictionary word, and rare.
        entity = "PERSON" if relation else "LOCATION" if prev in _PLACE_PREPOSITIONS else "UNKNOWN"
        if capital and not sentence_start:
            return 0.5, entity
        if capital and self.words.lexicon.zipf(text) < RARE_ZIPF_LOWER:
            return 0.45, entity
        if doc.lower_doc and self.words.lexicon.zipf(text) < RARE_ZIPF_LOWER and len(text) >= 3:
            return 0.4, entity
        if relation:
            return 0.5, "PERSON"
        return None

    def _judge_name_word(
        self,
        doc: TokenTable,
        i: int,
        kinds: list[tuple[Kind, float] | None],
        *,
        capital: bool,
        relation: bool,
        determiner: bool,
    ) -> tuple[float, str] | None:
        """A name that is also a word ("Joy", "Will", "Mark"): its context decides.

        Three tiers by how much more frequent the string is than a name of its rank: name-leaning
        (< 0.7: "Kyle", "Holly"), ambiguous (< 2.5: "Joy", "Destiny"), word-leaning ("Will", "Hope").
        """
        tok = doc[i]
        excess = kinds[i][1]  # type: ignore[index]
        if determiner or (tok.is_stop and not capital):
            return None
        if relation:
            return 0.6, "PERSON"
        nxt = doc[i + 1] if i + 1 < len(doc) else None
        compound = nxt is not None and nxt.is_alpha and nxt.text.islower() and nxt.pos_ == "NOUN"
        if nxt is not None and nxt.text == "-" and i + 2 < len(doc) and doc[i + 2].text.islower():
            compound = True  # "Well-being", "Jack-knifed"
        tier = 0 if excess < NAME_LEANING else 1 if excess < WORD_EXCESS_CAPITAL else 2
        if capital and not is_sentence_start(doc, i):
            if compound or self._in_title_phrase(doc, i, kinds):
                return None  # "Grace period", "Lasting Power of Attorney"
            return (0.6, 0.5, 0.45)[tier], "PERSON"
        if capital:  # sentence-initial: "Mark it as urgent" or "Kyle said"
            nxt_word = nxt.lower_ if nxt is not None else ""
            if tok.pos_ in {"PRON", "DET", "ADP", "CCONJ", "SCONJ"}:
                return None  # "He left", "We went": pronouns and function words
            if nxt is not None and nxt.tag_ == "VBD" and nxt_word not in {"was", "were", "had", "did"}:
                return 0.5, "PERSON"  # "Will went himself": a modal verb is never followed by a past tense
            if tier < 2 and nxt_word == "," and i + 2 < len(doc) and doc[i + 2].pos_ in {"PRON", "AUX", "VERB"}:
                return 0.5, "PERSON"  # "Rich, we get nothing": someone addressed by name
            if tier == 0 and tok.pos_ == "PROPN" and nxt_word not in _OBJECT_WORDS:
                return 0.5, "PERSON"  # tagged a proper noun, and not "Mark it", "Bill them"
            if tier == 0 and tok.pos_ != "VERB" and self._name_context(doc, i):
                return 0.5, "PERSON"
            return None
        if doc.lower_doc and tier == 0 and not compound and not self._word_context(doc, i):
            return 0.5, "PERSON"
        if tier < 2 and self._name_context(doc, i, loose=True):
            return 0.5, "PERSON"
        if (
            tier == 0
            and i > 0
            and doc[i - 1].lower_ in _PERSON_OBJECT_WORDS
            and tok.pos_ not in {"VERB", "ADJ", "AUX"}
            and not compound
        ):
            return 0.5, "PERSON"  # "spoke to donna", "went with kyle"
        return None

    @staticmethod
    def _word_context(doc: TokenTable, i: int) -> bool:
        """The token is used as a word: after an adjective, a noun or "of", or it is tagged a verb."""
        tok = doc[i]
        if tok.pos_ in {"VERB", "AUX", "ADJ"}:
            return True
        if i == 0:
            return False
        prev = doc[i - 1]
        return prev.pos_ in {"ADJ", "NOUN", "DET", "NUM"} or prev.lower_ in {"of", "a", "an", "the"}

    @staticmethod
    def _in_title_phrase(doc: TokenTable, i: int, kinds: list[tuple[Kind, float] | None]) -> bool:
        """True when a capitalised common word stands next to the token (a title-case name of a thing)."""
        for j in (i - 1, i + 1):
            if not 0 <= j < len(doc):
                continue
            kind = kinds[j]
            tok = doc[j]
            wordlike = kind is not None and (
                kind[0] is Kind.SAFE or (kind[0] is Kind.NAME_WORD and kind[1] >= NAME_LEANING)
            )
            acronym = tok.text.isupper() and len(tok.text) > 1 and tok.is_alpha  # "NHS Trust"
            if (wordlike and tok.text[0].isupper() and not tok.text.isupper()) or acronym:
                if j == i - 1 and is_sentence_start(doc, j):
                    continue  # a sentence-initial capital says nothing
                if tok.lower_.rstrip(".") in TITLES:
                    continue  # "Mrs Joy" is a person
                return True
        return False

    @staticmethod
    def _name_context(doc: TokenTable, i: int, *, loose: bool = True) -> bool:
        """Lower-case words around a name-word that show it is used as a name.

        ``loose`` also accepts any verb of a subject after it ("kyle was"); otherwise only speech verbs
        ("joy said"), for words that are often nouns ("destiny is").
        """
        nxt = doc[i + 1].lower_ if i + 1 < len(doc) else ""
        nxt2 = doc[i + 2].lower_ if i + 2 < len(doc) else ""
        prev = doc[i - 1].lower_ if i > 0 else ""
        if prev in RELATION_WORDS or NAME_INTRO.match(prev):
            return True
        if nxt in {"'s", "’s"} and nxt2 in _FAMILY_AFTER:
            return True
        if nxt == "and" and nxt2 in {"me", "i", "her", "him"}:
            return True
        verbs = _SUBJECT_VERBS if loose else _SPEECH_VERBS
        if i > 0 and (doc[i - 1].pos_ in {"ADJ", "NOUN", "DET", "ADP"} or prev in _POSSESSIVES):
            return False  # "the joy was", "my hope is", "of destiny"
        return nxt in verbs


def is_country(word: str) -> bool:
    """A country or one of the UK's nations ("Wales", "Somalia"): too large to identify anyone."""
    return fold(word) in _COUNTRY_WORDS


def is_product_name(word: str) -> bool:
    """CamelCase ("SystmOne", "WhatsApp") names a product; "McIntyre", "O'Neill", "DeShawn" do not count."""
    return bool(_INTERNAL_CAPITAL.match(word))


_SHARED: dict[int, tuple[Gazetteers, WordClassifier]] = {}


def shared_classifier(gazetteers: Gazetteers) -> WordClassifier:
    """One classifier per gazetteer set and process (its cache is shared by recognisers and anonymiser)."""
    hit = _SHARED.get(id(gazetteers))
    if hit is None or hit[0] is not gazetteers:
        hit = (gazetteers, WordClassifier(load_lexicon(), gazetteers))
        _SHARED[id(gazetteers)] = hit
    return hit[1]


#: Presidio entity names of the results (mapped to PERSON / PLACE placeholders in ``entities.py``).
_ENTITY = {"PERSON": "NAME_CANDIDATE", "LOCATION": "PLACE_CANDIDATE", "UNKNOWN": "UNKNOWN_CANDIDATE"}


def _prefer(a: str, b: str) -> str:
    """The type of a span joined from two judgements: a person beats a place beats an unknown."""
    for entity in ("PERSON", "LOCATION"):
        if entity in (a, b):
            return entity
    return a
