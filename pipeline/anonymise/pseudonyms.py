"""Consistent pseudonyms: the same person, place or school gets the same placeholder across a project.

Why linking and not just exact matching: one child is "Kieran" in one interview, "Kieron" in the next
transcript's spelling and "Kez" to his friends; a mother is "Mrs Ahmed" and "Ayesha Ahmed". An analyst
must see one ``[PERSON_7]`` for all of them, or the story falls apart. Linking uses a nickname table,
Jaro-Winkler similarity for spelling variants, and surnames (a surname-only mention links to the one
known full name with that surname, and only when that is unambiguous).

Two stores share the logic: ``InMemoryPseudonymStore`` (the file/JSONL command, tests) and
``DatabasePseudonymStore`` (the ``pseudonyms`` table; originals Fernet-encrypted, looked up by HMAC).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Protocol

from rapidfuzz.distance import JaroWinkler
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.anonymise.entities import PLACEHOLDER_RE, format_placeholder
from pipeline.anonymise.gazetteers import Gazetteers, load_gazetteers, surrogate_names
from pipeline.anonymise.keys import Keyring
from pipeline.anonymise.recognizers.tokens import TITLES
from pipeline.errors import QualcodeError
from pipeline.store.models import Pseudonym, TermList

_NON_WORD = re.compile(r"[^\w\s@./+-]+")
_SPACES = re.compile(r"\s+")
#: Words dropped when normalising organisation-like names ("St Mary's Primary School" = "st marys primary").
_ORG_NOISE = frozenset({"the", "school", "c", "of", "e", "ce", "church", "england"})
VARIANT_SIMILARITY = 0.9
MAX_INSERT_ATTEMPTS = 5


class PseudonymStore(Protocol):
    """Gives the placeholder for an entity mention, the same one each time (and for linked variants)."""

    def placeholder(self, entity: str, surface: str) -> str: ...


#: Entity types whose originals seed name propagation in later documents of the same project.
SEEDED_TYPES = frozenset({"PERSON", "PLACE"})


def normalise(entity: str, surface: str) -> str:
    """The form used for look-ups: case-folded, punctuation and titles removed, whitespace collapsed."""
    text = surface.replace("’", "'").casefold()
    text = re.sub(r"'s\b", "", text)
    text = _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()
    if entity in {"PHONE", "NHS_NUMBER", "NI_NUMBER", "POSTCODE", "CASE_REF"}:
        return re.sub(r"[\s./-]", "", text)
    words = text.split(" ")
    if entity == "PERSON":
        words = [w for w in words if w.rstrip(".") not in TITLES] or words
    elif entity in {"SCHOOL", "PLACE_OF_WORSHIP", "ORG"}:
        words = [("st" if w == "saint" else w) for w in words if w not in _ORG_NOISE] or words
    return " ".join(w.rstrip(".") for w in words)


def lookup_key(entity: str, surface: str) -> str:
    """The key whose HMAC finds a map row: the normalised form, plus the title's gender for a bare
    surname ("Mr Ahmed" and "Mrs Ahmed" are two people until something links them)."""
    key = normalise(entity, surface)
    gender = _gender(surface) if entity == "PERSON" and " " not in key else None
    return f"{gender}|{key}" if gender else key


def _has_title(surface: str) -> bool:
    first = surface.strip().split(" ")[0].casefold().rstrip(".") if surface.strip() else ""
    return first in TITLES


@dataclass(slots=True)
class _Person:
    """What is known about one pseudonymised person (in memory only)."""

    placeholder: str
    firsts: set[str] = field(default_factory=set)
    lasts: set[str] = field(default_factory=set)
    genders: set[str] = field(default_factory=set)  # from titles: "m" (Mr), "f" (Mrs, Ms, Miss)


_TITLE_GENDER = {
    "mr": "m",
    "sir": "m",
    "lord": "m",
    "father": "m",
    "mrs": "f",
    "ms": "f",
    "miss": "f",
    "dame": "f",
    "lady": "f",
}


def _gender(surface: str) -> str | None:
    words = surface.strip().split()
    return _TITLE_GENDER.get(words[0].casefold().rstrip(".")) if words else None


class _Linker:
    """Links person-name variants to known people. Pure in-memory logic shared by both stores."""

    def __init__(self, gazetteers: Gazetteers) -> None:
        self.gaz = gazetteers
        self.people: list[_Person] = []

    def _first_compatible(self, a: str, b: str) -> bool:
        if a == b:
            return True
        ca, cb = self.gaz.canonical_first(a), self.gaz.canonical_first(b)
        if ca == cb:
            return True
        return min(len(a), len(b)) >= 4 and a[0] == b[0] and JaroWinkler.similarity(a, b) >= VARIANT_SIMILARITY

    def _parts(self, surface: str, key: str) -> tuple[str | None, str | None]:
        words = [w for w in key.split(" ") if w]
        if not words:
            return None, None
        if len(words) == 1:
            word = words[0]
            if _has_title(surface) or (word in self.gaz.surnames and word not in self.gaz.first_names):
                return None, word
            return word, None
        return words[0], words[-1]

    def find(self, surface: str, key: str) -> _Person | None:
        first, last = self._parts(surface, key)
        if first and last:
            same_last = [p for p in self.people if last in p.lasts]
            for person in same_last:
                if not person.firsts or any(self._first_compatible(first, f) for f in person.firsts):
                    return person
            # "Ayesha" known without surname: link if she is the only candidate.
            loose = [p for p in self.people if not p.lasts and any(self._first_compatible(first, f) for f in p.firsts)]
            return loose[0] if len(loose) == 1 else None
        if last:
            # "Mrs Ahmed" links to "Ayesha Ahmed" but never to the "Mr Ahmed" already known.
            gender = _gender(surface)
            cands = [p for p in self.people if last in p.lasts and not (gender and p.genders - {gender})]
            return cands[0] if len(cands) == 1 else None
        if first:
            exact = [p for p in self.people if first in p.firsts]
            if len(exact) == 1:
                return exact[0]
            if exact:
                return None  # two people share this first name: do not guess
            variants = [p for p in self.people if any(self._first_compatible(first, f) for f in p.firsts)]
            if len(variants) == 1:
                return variants[0]
            # A lone surname said without title ("Petrov said ...").
            by_last = [p for p in self.people if first in p.lasts]
            return by_last[0] if len(by_last) == 1 else None
        return None

    def remember(self, person: _Person, surface: str, key: str) -> None:
        first, last = self._parts(surface, key)
        if first:
            person.firsts.add(first)
        if last:
            person.lasts.add(last)
        gender = _gender(surface)
        if gender:
            person.genders.add(gender)
        if person not in self.people:
            self.people.append(person)


class InMemoryPseudonymStore:
    """Pseudonyms for one process (the file and JSONL commands, tests). Nothing is written anywhere."""

    def __init__(self, gazetteers: Gazetteers | None = None) -> None:
        self._by_key: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}
        self._linker = _Linker(gazetteers or load_gazetteers())
        self._people: dict[str, _Person] = {}
        self._seen: dict[str, set[str]] = {}

    def known(self) -> dict[str, set[str]]:
        """Originals of people and places pseudonymised so far (seeds later documents' propagation)."""
        return self._seen

    def __repr__(self) -> str:
        return f"InMemoryPseudonymStore(entities={len(set(self._by_key.values()))})"

    def _new(self, entity: str) -> str:
        self._counters[entity] = self._counters.get(entity, 0) + 1
        return format_placeholder(entity, self._counters[entity])

    def placeholder(self, entity: str, surface: str) -> str:
        key = normalise(entity, surface)
        lkey = lookup_key(entity, surface)
        found = self._by_key.get((entity, lkey))
        if found:
            return found
        if entity == "PERSON":
            person = self._linker.find(surface, key)
            if person is None:
                person = _Person(self._new(entity))
                self._people[person.placeholder] = person
            self._linker.remember(person, surface, key)
            found = person.placeholder
        else:
            found = self._new(entity)
        self._by_key[(entity, lkey)] = found
        if entity in SEEDED_TYPES:
            self._seen.setdefault(entity, set()).add(surface.strip())
        return found


class DatabasePseudonymStore:
    """Pseudonyms in the ``pseudonyms`` table, consistent across every transcript of a project.

    Rows hold ``lookup_hash`` (HMAC of ``entity:normalised original``) and the Fernet-encrypted original;
    a linked variant gets its own row whose ``canonical_id`` points at the first mention's row (its
    ``placeholder`` column carries a ``~n`` suffix only to satisfy the unique constraint; readers always
    follow ``canonical_id``). Rows are added to the caller's session and committed with its transaction.
    """

    def __init__(self, session: Session, keyring: Keyring, gazetteers: Gazetteers | None = None) -> None:
        self.session = session
        self.keyring = keyring
        self._linker = _Linker(gazetteers or load_gazetteers())
        self._loaded = False
        self._by_key: dict[tuple[str, str], tuple[int, str]] = {}
        self._people: dict[str, _Person] = {}
        self._row_of: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        self._terms: tuple[list[str], list[tuple[str, str]]] | None = None
        self._seen: dict[str, set[str]] = {}

    def known(self) -> dict[str, set[str]]:
        """Originals of the project's people and places (decrypted in memory; seeds name propagation)."""
        self._load()
        return self._seen

    def term_lists(self) -> tuple[list[str], list[tuple[str, str]]]:
        """The project's reviewed allow terms and decrypted deny terms (read once per store)."""
        if self._terms is None:
            allow: list[str] = []
            deny: list[tuple[str, str]] = []
            for row in self.session.scalars(select(TermList).order_by(TermList.id)).all():
                if row.kind == "allow" and row.term:
                    allow.append(row.term)
                elif row.kind == "deny" and row.encrypted_term is not None:
                    deny.append((self.keyring.decrypt(row.encrypted_term), row.entity_type or "PERSON"))
            self._terms = (allow, deny)
        return self._terms

    def __repr__(self) -> str:
        return f"DatabasePseudonymStore(key_id={self.keyring.key_id!r}, loaded={self._loaded})"

    def _load(self) -> None:
        """Read the project's map once: counters, and decrypted person names for variant linking."""
        if self._loaded:
            return
        rows = self.session.scalars(select(Pseudonym).order_by(Pseudonym.id)).all()
        canonical_placeholder = {r.id: r.placeholder for r in rows if r.canonical_id is None}
        for row in rows:
            placeholder = canonical_placeholder.get(row.canonical_id or row.id, row.placeholder)
            match = PLACEHOLDER_RE.fullmatch(placeholder)
            if match and row.canonical_id is None:
                number = int(match.group("number"))
                self._counters[row.entity_type] = max(self._counters.get(row.entity_type, 0), number)
                self._row_of[placeholder] = row.id
            if row.entity_type in SEEDED_TYPES:
                original = self.keyring.decrypt(row.encrypted_original)
                self._seen.setdefault(row.entity_type, set()).add(original)
            if row.entity_type == "PERSON":
                person = self._people.setdefault(placeholder, _Person(placeholder))
                self._linker.remember(person, original, normalise("PERSON", original))
        self._loaded = True

    def _find_row(self, entity: str, key: str) -> tuple[int, str] | None:
        cached = self._by_key.get((entity, key))
        if cached:
            return cached
        hashes = self.keyring.lookup_hashes(f"{entity}:{key}")
        row = self.session.scalars(
            select(Pseudonym).where(Pseudonym.entity_type == entity, Pseudonym.lookup_hash.in_(hashes))
        ).first()
        if row is None:
            return None
        canonical = self.session.get(Pseudonym, row.canonical_id) if row.canonical_id else row
        found = (canonical.id, canonical.placeholder)
        self._by_key[(entity, key)] = found
        return found

    def _add(self, entity: str, key: str, surface: str, placeholder: str, canonical_id: int | None) -> int:
        """Insert one map row inside a savepoint (a concurrent writer's conflict rolls back only this)."""
        stored_placeholder = placeholder
        if canonical_id is not None:
            variants = self.session.scalars(select(Pseudonym.id).where(Pseudonym.canonical_id == canonical_id)).all()
            stored_placeholder = f"{placeholder}~{len(variants) + 1}"
        row = Pseudonym(
            entity_type=entity,
            placeholder=stored_placeholder,
            lookup_hash=self.keyring.lookup_hash(f"{entity}:{key}"),
            encrypted_original=self.keyring.encrypt(surface.strip()),
            key_id=self.keyring.key_id,
            canonical_id=canonical_id,
        )
        with self.session.begin_nested():
            self.session.add(row)
            self.session.flush()
        return row.id

    def _next_number(self, entity: str) -> int:
        """The next free placeholder number for ``entity`` (re-read from the database after a conflict)."""
        placeholders = self.session.scalars(
            select(Pseudonym.placeholder).where(Pseudonym.entity_type == entity, Pseudonym.canonical_id.is_(None))
        ).all()
        numbers = [int(m.group("number")) for p in placeholders if (m := PLACEHOLDER_RE.fullmatch(p))]
        self._counters[entity] = max([self._counters.get(entity, 0), *numbers]) + 1
        return self._counters[entity]

    def placeholder(self, entity: str, surface: str) -> str:
        self._load()
        key = normalise(entity, surface)
        lkey = lookup_key(entity, surface)
        for _attempt in range(MAX_INSERT_ATTEMPTS):
            found = self._find_row(entity, lkey)
            if found:
                return found[1]
            canonical_id: int | None = None
            person: _Person | None = None
            if entity == "PERSON":
                person = self._linker.find(surface, key)
                if person is not None:
                    placeholder = person.placeholder
                    canonical_id = self._row_of[placeholder]
                else:
                    self._counters[entity] = self._counters.get(entity, 0) + 1
                    placeholder = format_placeholder(entity, self._counters[entity])
            else:
                self._counters[entity] = self._counters.get(entity, 0) + 1
                placeholder = format_placeholder(entity, self._counters[entity])
            try:
                row_id = self._add(entity, lkey, surface, placeholder, canonical_id)
            except IntegrityError:
                # Another process stored this entity, or took this number, since we read the map.
                self._next_number(entity)
                self._counters[entity] -= 1
                continue
            if entity == "PERSON":
                person = person or self._people.setdefault(placeholder, _Person(placeholder))
                self._linker.remember(person, surface, key)
            if entity in SEEDED_TYPES:
                self._seen.setdefault(entity, set()).add(surface.strip())
            if canonical_id is None:
                self._row_of[placeholder] = row_id
            self._by_key[(entity, lkey)] = (canonical_id or row_id, placeholder)
            return placeholder
        raise QualcodeError(f"could not store a {entity} pseudonym after {MAX_INSERT_ATTEMPTS} concurrent conflicts")


def surrogate_text(placeholder: str, surface: str, gazetteers: Gazetteers | None = None) -> str:
    """A realistic, marked surrogate for a person placeholder: "[Alex]", "[Alex Ashdown]", "Mrs [Ashdown]".

    Deterministic in the placeholder number, so the same person always gets the same surrogate; the
    square brackets keep it visibly a replacement.
    """
    match = PLACEHOLDER_RE.fullmatch(placeholder)
    number = int(match.group("number")) if match else zlib.crc32(placeholder.encode())
    firsts, lasts = surrogate_names()
    first = firsts[(number - 1) % len(firsts)]
    last = lasts[((number - 1) // len(firsts) + number - 1) % len(lasts)]
    if (number - 1) >= len(firsts) * len(lasts):
        last = f"{last}{(number - 1) // (len(firsts) * len(lasts)) + 1}"
    words = surface.split()
    if words and words[0].casefold().rstrip(".") in TITLES:
        return f"{words[0]} [{last}]"
    return f"[{first} {last}]" if len(words) > 1 else f"[{first}]"
