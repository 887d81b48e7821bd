"""Database-facing suggestion functions: import examples, suggest for segments, retrain, re-score.

These are what the batch flow, the retrain flow and the CLI call. Each takes a caller's ``Session`` and
writes in the caller's transaction (with an audit row), so a failure leaves nothing half-written.

- ``store_examples``: human-coded examples become ``Coding`` rows (``source="import"``, one per coder) on
  segments of an ``import`` transcript (one segment per ``unit_id``; ``Segment.external_id`` = unit id).
  **The texts are stored as given and must already be anonymised**, or pass ``anonymise`` (a batch
  function, e.g. :func:`project_anonymiser`) to run them through the project's anonymiser first; the
  ``qualcode examples import`` command requires either ``--anonymised`` (a confirmation) or
  ``--anonymise``.
- ``suggest_for_segments``: scores segments with the active model (or cold start when none exists) and
  writes ``Suggestion`` rows: apply -> ``applied`` plus a ``Coding`` by ``model:<version>``; review ->
  ``queued`` with a priority and near-duplicate ``group_key`` (shared with near-duplicates in the same
  call and with near-duplicates already waiting in the queue); drop -> ``dropped``. Idempotent per
  (segment, code, model version); codes a person already decided on a segment are not suggested again.
- ``retrain``: trains on every human decision (see :mod:`pipeline.suggest.labels` for the conflict rule),
  saves the artefact under ``models/``, activates a new ``ModelVersion`` and re-scores the suggestions
  still waiting in the review queue with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipeline.codebook import Codebook, Theme, load_codebook
from pipeline.codebook.store import active_codebook, codebook_row, store_codebook
from pipeline.embed import embed_texts_cached, get_embedder, load_vectors, settings_identity, text_hash
from pipeline.errors import ConfigError, ExamplesError, ModelError
from pipeline.settings import Settings, get_settings
from pipeline.store.audit import audit
from pipeline.store.db import lock_writes
from pipeline.store.models import Coding, ModelVersion, ReviewItem, Segment, Suggestion, Transcript, utcnow
from pipeline.store.visibility import released, released_segment
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.examples import ExampleSet
from pipeline.suggest.labels import (
    HUMAN_SOURCES,
    HumanDecision,
    label_matrix,
    resolve_labels,
    resolve_shares,
    share_matrix,
)
from pipeline.suggest.model import Scores, SuggestionModel, cold_start_model
from pipeline.suggest.policy import DecisionPolicy
from pipeline.suggest.priority import (
    NEAR_DUPLICATE_COSINE,
    group_key,
    near_duplicate_groups,
    review_priority,
    theme_coverage,
)
from pipeline.suggest.training import COLD_START_REVIEW, TrainingConfig, train_model

log = logging.getLogger(__name__)

_STATUS = {"apply": "applied", "review": "queued", "drop": "dropped"}


# --------------------------------------------------------------------------------------------------
# Codebook
# --------------------------------------------------------------------------------------------------
def ensure_active_codebook(session: Session, settings: Settings) -> Codebook:
    """The active stored codebook; stores the configured codebook file first when none is stored."""
    codebook = active_codebook(session)
    if codebook is not None:
        return codebook
    path = Path(settings.codebook_path)
    if not path.is_file():
        raise ConfigError(
            f"no codebook stored and the configured codebook file {path} does not exist "
            "(set QUALCODE_CODEBOOK_PATH or run `qualcode codebook import`)"
        )
    codebook = load_codebook(path)
    store_codebook(session, codebook, actor="system")
    return codebook


# --------------------------------------------------------------------------------------------------
# Importing human-coded examples
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportStats:
    units: int
    new_segments: int
    codings_created: int
    codings_updated: int
    codings_unchanged: int


def store_examples(
    session: Session,
    examples: ExampleSet,
    *,
    source_name: str,
    content_hash: str,
    actor: str = "cli",
    anonymise: Callable[[list[str]], list[str]] | None = None,
) -> ImportStats:
    """Store examples as per-coder ``Coding`` rows on ``import`` segments (idempotent).

    A unit id already imported (from any file) reuses its segment; the same unit id with a different
    text is an error. ``content_hash`` identifies the file (its SHA-256), so re-importing it changes
    nothing.
    """
    texts = dict(examples.units)
    if anonymise is not None:
        texts = dict(zip(texts, anonymise(list(texts.values())), strict=True))
    existing: dict[str, Segment] = {}
    unit_ids = list(texts)
    for start in range(0, len(unit_ids), 500):
        rows = session.scalars(
            select(Segment)
            .join(Transcript, Segment.transcript_id == Transcript.id)
            .where(Transcript.kind == "import", Segment.external_id.in_(unit_ids[start : start + 500]))
        ).all()
        existing.update({row.external_id: row for row in rows if row.external_id})
    for unit, segment in existing.items():
        if segment.text_hash != text_hash(texts[unit]):
            raise ExamplesError(
                f"{source_name}: unit {unit!r} was imported before with a different text (one unit, one text)"
            )
    new_units = [u for u in unit_ids if u not in existing]
    if new_units:
        existing.update(_new_import_segments(session, new_units, texts, source_name, content_hash))

    current = {
        (c.segment_id, c.code_key, c.coder): c
        for start in range(0, len(unit_ids), 500)
        for c in session.scalars(
            select(Coding).where(
                Coding.source == "import",
                Coding.segment_id.in_([existing[u].id for u in unit_ids[start : start + 500]]),
            )
        )
    }
    created = updated = unchanged = 0
    for d in examples.decisions:
        segment = existing[str(d.unit)]
        row = current.get((segment.id, d.code, d.coder))
        if row is None:
            row = Coding(segment_id=segment.id, code_key=d.code, coder=d.coder, applied=d.applied, source="import")
            session.add(row)
            current[(segment.id, d.code, d.coder)] = row
            created += 1
        elif row.applied != d.applied:
            row.applied = d.applied
            row.version = (row.version or 0) + 1
            updated += 1
        else:
            unchanged += 1
    session.flush()
    audit(
        session,
        actor,
        "examples.import",
        "file",
        content_hash[:16],
        source=source_name,
        units=len(unit_ids),
        new_segments=len(new_units),
        codings_created=created,
        codings_updated=updated,
        anonymised_on_import=anonymise is not None,
    )
    return ImportStats(len(unit_ids), len(new_units), created, updated, unchanged)


def project_anonymiser(session: Session, settings: Settings) -> Callable[[list[str]], list[str]]:
    """The project's anonymiser as a batch function, with pseudonyms consistent with the transcripts."""
    from pipeline.anonymise import DatabasePseudonymStore, build_anonymiser, load_keyring

    keyring = load_keyring(settings)
    anonymiser = build_anonymiser(settings, session=session, keyring=keyring)
    store = DatabasePseudonymStore(session, keyring)

    def run(texts: list[str]) -> list[str]:
        return [result.text for result in anonymiser.anonymise_many(texts, store)]

    return run


def _new_import_segments(
    session: Session, units: list[str], texts: dict[str, str], source_name: str, content_hash: str
) -> dict[str, Segment]:
    """An ``import`` transcript holding the new units, one segment each (offsets into its text)."""
    transcript = session.scalar(select(Transcript).where(Transcript.content_hash == content_hash))
    if transcript is None:
        transcript = Transcript(
            content_hash=content_hash,
            source_name=source_name[:500],
            format="import",
            kind="import",
            status="done",
            anonymised_text="",
        )
        session.add(transcript)
        session.flush()
    body = transcript.anonymised_text or ""
    next_index = session.scalar(
        select(func.coalesce(func.max(Segment.index) + 1, 0)).where(Segment.transcript_id == transcript.id)
    )
    out: dict[str, Segment] = {}
    for offset, unit in enumerate(units):
        if body:
            body += "\n\n"
        start = len(body)
        body += texts[unit]
        segment = Segment(
            transcript_id=transcript.id,
            index=int(next_index or 0) + offset,
            start_char=start,
            end_char=len(body),
            text=texts[unit],
            text_hash=text_hash(texts[unit]),
            speaker_role="unknown",
            codable=True,
            external_id=unit,
        )
        session.add(segment)
        out[unit] = segment
    transcript.anonymised_text = body
    session.flush()
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# The active model
# --------------------------------------------------------------------------------------------------
_MODEL_CACHE: dict[tuple[str, str], SuggestionModel] = {}
_EXTRA_CACHE: dict[tuple[str, str], ColdStartScorer] = {}


def active_model_row(session: Session) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.is_active.is_(True))
        .order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    )


def load_model_row(row: ModelVersion) -> SuggestionModel:
    """The artefact of a ``ModelVersion`` row (cached per path and version)."""
    key = (row.path, row.version)
    if key not in _MODEL_CACHE:
        model = SuggestionModel.load(row.path)
        if model.version != row.version:
            raise ModelError(f"{row.path}: holds model {model.version}, but the database expects {row.version}")
        _remember(key, model)
    return _MODEL_CACHE[key]


def _remember(key: tuple[str, str], model: SuggestionModel) -> None:
    if len(_MODEL_CACHE) >= 4:
        _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
    _MODEL_CACHE[key] = model


@dataclass
class _Scorer:
    """The active model, reconciled with the active codebook (new codes scored by cold start)."""

    model: SuggestionModel
    codebook: Codebook
    stale: set[str]
    extra: ColdStartScorer | None  # cold start, from the active wording, for new and stale codes
    n_positive: dict[str, int]

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, X: np.ndarray, texts: Sequence[str]) -> tuple[Scores, np.ndarray]:
        base = self.model.score(X, stale_codes=self.stale, texts=texts)
        codes = self.codebook.code_ids
        proba = np.zeros((X.shape[0], len(codes)))
        cold = np.ones(len(codes), dtype=bool)
        index = {c: j for j, c in enumerate(base.codes)}
        extra_proba = self.extra.predict_code_proba(X) if self.extra is not None else None
        fresh = set(self.extra.codes) if self.extra is not None else set()
        for j, code in enumerate(codes):
            if code in fresh and extra_proba is not None and self.extra is not None:
                proba[:, j] = extra_proba[:, self.extra.codes.index(code)]
            elif code in index:
                proba[:, j] = base.proba[:, index[code]]
                cold[j] = base.cold_start[index[code]]
        scores = Scores(codes=codes, proba=proba, cold_start=cold)
        return scores, self.model.policy.decide_matrix(codes, proba, cold)

    @property
    def policy(self) -> DecisionPolicy:
        return self.model.policy


def _scorer(session: Session, settings: Settings) -> _Scorer:
    codebook = ensure_active_codebook(session, settings)
    embedder = get_embedder(settings)
    row = active_model_row(session)
    if row is None:
        review = max(COLD_START_REVIEW, settings.review_floor)
        key = (f"coldstart:{codebook.content_hash}:{embedder.identity}", str(review))
        if key not in _MODEL_CACHE:  # embedding the codebook once per process, not once per transcript
            _remember(key, cold_start_model(codebook, embedder, cold_start_review=review))
        return _Scorer(_MODEL_CACHE[key], codebook, set(), None, {})
    model = load_model_row(row)
    model.check_embedding_model(embedder)
    stale = set(row.stale_codes or [])
    # New codes, and codes whose wording changed, are scored by cold start from the *active* wording.
    unseen = [c for c in codebook.code_ids if c not in model.codes or c in stale]
    extra = None
    extra_key = (f"extra:{model.version}:{codebook.content_hash}", ",".join(unseen))
    if unseen and extra_key in _EXTRA_CACHE:
        extra = _EXTRA_CACHE[extra_key]
    elif unseen:
        sub = Codebook(
            name=codebook.name,
            version=codebook.version,
            description=codebook.description,
            themes=tuple(
                Theme(
                    id=t.id, name=t.name, description=t.description, codes=tuple(c for c in t.codes if c.id in unseen)
                )
                for t in codebook.themes
                if any(c.id in unseen for c in t.codes)
            ),
        )
        extra = ColdStartScorer.from_codebook(sub, embedder)
        extra.slope, extra.centre = model.coldstart.slope, model.coldstart.centre
        _EXTRA_CACHE.clear()
        _EXTRA_CACHE[extra_key] = extra
    n_positive = {code: int(entry.get("n_positive", 0)) for code, entry in (model.card.get("codes") or {}).items()}
    return _Scorer(model, codebook, stale, extra, n_positive)


# --------------------------------------------------------------------------------------------------
# Suggesting
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuggestStats:
    """What one ``suggest_for_segments`` call did (counts only; safe to log)."""

    segments: int = 0
    suggestions: int = 0
    applied: int = 0
    queued: int = 0
    dropped: int = 0
    cold_start: int = 0
    skipped_existing: int = 0
    skipped_human: int = 0
    model_version: str = ""


def _human_coded(session: Session, segment_ids: Sequence[int]) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for start in range(0, len(segment_ids), 500):
        out.update(
            session.execute(
                select(Coding.segment_id, Coding.code_key).where(
                    Coding.segment_id.in_(segment_ids[start : start + 500]), Coding.source.in_(HUMAN_SOURCES)
                )
            ).tuples()
        )
    return out


def _theme_coverage(session: Session, codebook: Codebook) -> dict[str, float]:
    """Human decisions per theme of the active codebook, relative to the best-covered theme."""
    theme_of = {code.id: code.theme_id for code in codebook.codes}
    counts: dict[str, int] = defaultdict(int)
    rows = session.execute(
        select(Coding.code_key, func.count()).where(Coding.source.in_(HUMAN_SOURCES)).group_by(Coding.code_key)
    ).tuples()
    for code, n in rows:
        if code in theme_of:
            counts[theme_of[code]] += int(n)
    return theme_coverage(counts, [t.id for t in codebook.themes])


def suggest_for_segments(
    session: Session,
    segment_ids: Sequence[int],
    settings: Settings | None = None,
    *,
    only_codes: dict[int, set[str]] | None = None,
    rescore_superseded: bool = False,
) -> SuggestStats:
    """Score segments with the active model (or cold start) and store the suggestions.

    ``only_codes`` restricts which codes are (re-)scored per segment (used when re-scoring the queue).
    With ``rescore_superseded``, a pair whose suggestion by this very version was superseded (a stale
    code, or a codebook wording that came back) is scored again and that row updated in place: there is
    one suggestion row per (segment, code, model version).
    """
    settings = settings or get_settings()
    scorer = _scorer(session, settings)
    version = scorer.version
    segments = [
        s
        for start in range(0, len(segment_ids), 500)
        for s in session.scalars(
            select(Segment).where(
                Segment.id.in_(list(segment_ids)[start : start + 500]),
                Segment.codable.is_(True),
                released(Segment.transcript_id),  # nothing is suggested (so queued) from a held transcript
            )
        )
    ]
    segments.sort(key=lambda s: s.id)
    if not segments:
        return SuggestStats(model_version=version)
    ids = [s.id for s in segments]
    done: set[tuple[int, str]] = set()
    for start in range(0, len(ids), 500):
        done.update(
            session.execute(
                select(Suggestion.segment_id, Suggestion.code_key).where(
                    Suggestion.segment_id.in_(ids[start : start + 500]),
                    Suggestion.model_version == version,
                    *([Suggestion.status != "superseded"] if rescore_superseded else []),
                )
            ).tuples()
        )
    human = _human_coded(session, ids)
    codes = scorer.codebook.code_ids

    def wanted(segment: Segment, code: str) -> bool:
        return only_codes is None or code in only_codes.get(segment.id, set())

    skip = done | human
    todo = [s for s in segments if any(wanted(s, c) and (s.id, c) not in skip for c in codes)]
    skipped_existing = sum(1 for s in segments for c in codes if wanted(s, c) and (s.id, c) in done)
    skipped_human = sum(
        1 for s in segments for c in codes if wanted(s, c) and (s.id, c) in human and (s.id, c) not in done
    )
    if not todo:
        return SuggestStats(
            segments=len(segments),
            skipped_existing=skipped_existing,
            skipped_human=skipped_human,
            model_version=version,
        )

    embedder = get_embedder(settings)
    texts = [s.text for s in todo]
    X, _ = embed_texts_cached(session, texts, embedder)
    scores, decisions = scorer.score(X, texts)
    leaders = near_duplicate_groups(X)
    queued_groups = _queued_near_duplicates(session, X, embedder.identity, exclude=set(ids))
    coverage = _theme_coverage(session, scorer.codebook)
    theme_of = {code.id: code.theme_id for code in scorer.codebook.codes}
    coder = f"model:{version}"
    rows: list[dict[str, object]] = []
    for i, segment in enumerate(todo):
        for j, code in enumerate(codes):
            if not wanted(segment, code) or (segment.id, code) in skip:
                continue
            p = float(scores.proba[i, j])
            decision = str(decisions[i, j])
            cold = bool(scores.cold_start[j])
            thresholds = scorer.policy.thresholds_for(code, cold)
            rows.append(
                {
                    "segment_id": segment.id,
                    "code_key": code,
                    "probability": p,
                    "decision": decision,
                    "cold_start": cold,
                    "model_version": version,
                    "status": _STATUS[decision],
                    "priority": review_priority(
                        p, thresholds, 0 if cold else scorer.n_positive.get(code, 0), coverage.get(theme_of[code], 1.0)
                    )
                    if decision == "review"
                    else 0.0,
                    "group_key": queued_groups[i].get(code) or group_key(code, todo[int(leaders[i])].text_hash),
                }
            )
    # Another run (a second worker, an overlapping flow) may have stored some of these pairs since the
    # ``done`` query above: those rows are skipped by the database, not raised as unique violations, and
    # only the rows this call really inserted are counted and get a model Coding.
    updated = _update_superseded(session, rows, version) if rescore_superseded else []
    done_now = {(segment_id, code) for _, segment_id, code in updated}
    fresh = [r for r in rows if (r["segment_id"], r["code_key"]) not in done_now]
    inserted = updated + _insert_ignore(session, Suggestion, fresh, ("segment_id", "code_key", "model_version"))
    by_pair = {(r["segment_id"], r["code_key"]): r for r in rows}
    counts = {"apply": 0, "review": 0, "drop": 0}
    cold_count = 0
    applied: list[dict[str, object]] = []
    for suggestion_id, segment_id, code in inserted:
        row = by_pair[(segment_id, code)]
        counts[str(row["decision"])] += 1
        cold_count += int(bool(row["cold_start"]))
        if row["decision"] == "apply":
            applied.append(
                {
                    "segment_id": segment_id,
                    "code_key": code,
                    "coder": coder,
                    "applied": True,
                    "source": "model",
                    "suggestion_id": suggestion_id,
                    "model_version": version,
                }
            )
    _insert_ignore(session, Coding, applied, ("segment_id", "code_key", "coder", "source"))
    skipped_existing += len(rows) - len(inserted)
    stats = SuggestStats(
        segments=len(segments),
        suggestions=sum(counts.values()),
        applied=counts["apply"],
        queued=counts["review"],
        dropped=counts["drop"],
        cold_start=cold_count,
        skipped_existing=skipped_existing,
        skipped_human=skipped_human,
        model_version=version,
    )
    audit(
        session,
        "flow",
        "suggest.run",
        "model_version",
        version,
        **{k: v for k, v in stats.__dict__.items() if k != "model_version"},
    )
    return stats


def _update_superseded(session: Session, rows: list[dict[str, object]], version: str) -> list[tuple[int, int, str]]:
    """Write ``rows`` over this version's superseded suggestions of the same pairs; (id, segment, code)."""
    if not rows:
        return []
    segment_ids = sorted({int(r["segment_id"]) for r in rows})  # type: ignore[call-overload]
    existing = {
        (s.segment_id, s.code_key): s
        for start in range(0, len(segment_ids), 500)
        for s in session.scalars(
            select(Suggestion).where(
                Suggestion.segment_id.in_(segment_ids[start : start + 500]),
                Suggestion.model_version == version,
                Suggestion.status == "superseded",
            )
        )
    }
    updated: list[Suggestion] = []
    for row in rows:
        suggestion = existing.get((row["segment_id"], row["code_key"]))  # type: ignore[arg-type]
        if suggestion is None:
            continue
        for field_name in ("probability", "decision", "cold_start", "status", "priority", "group_key"):
            setattr(suggestion, field_name, row[field_name])
        updated.append(suggestion)
    session.flush()
    # A waiting review item of a re-scored suggestion keeps its place in the queue with the new order.
    for suggestion in updated:
        session.execute(
            update(ReviewItem)
            .where(
                ReviewItem.suggestion_id == suggestion.id,
                ReviewItem.kind == "review",
                ReviewItem.status.in_(("open", "skipped")),
            )
            .values(priority=suggestion.priority, group_key=suggestion.group_key, version=ReviewItem.version + 1)
            .execution_options(synchronize_session=False)
        )
    return [(s.id, s.segment_id, s.code_key) for s in updated]


def _insert_ignore(
    session: Session, table: type[Suggestion] | type[Coding], rows: list[dict[str, object]], keys: Sequence[str]
) -> list[tuple[int, int, str]]:
    """``INSERT .. ON CONFLICT (keys) DO NOTHING`` on SQLite and PostgreSQL; the inserted rows'
    ``(id, segment_id, code_key)``.

    Why not check-then-add: two concurrent runs both see a pair as missing, and the second one's insert
    would then fail the whole transaction on the unique constraint.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - SQLite and PostgreSQL are the supported backends
        raise ConfigError(f"unsupported database backend {dialect!r} (use SQLite or PostgreSQL)")
    session.flush()  # pending ORM changes (e.g. superseded rows) go first, in order
    out: list[tuple[int, int, str]] = []
    for start in range(0, len(rows), 500):
        statement = (
            insert(table)
            .values(rows[start : start + 500])
            .on_conflict_do_nothing(index_elements=list(keys))
            .returning(table.id, table.segment_id, table.code_key)
        )
        out.extend(session.execute(statement).tuples())
    return out


#: How many of the most recent queued suggestions are considered when joining near-duplicate groups.
QUEUED_GROUP_WINDOW = 5000


def _queued_near_duplicates(
    session: Session, X: np.ndarray, identity: str, exclude: set[int]
) -> list[dict[str, str]]:
    """Per new row, ``{code: group_key}`` of queued suggestions on a near-duplicate earlier segment.

    So the same passage arriving in a later batch joins the group already waiting in the review queue
    (and can be bulk-accepted with it) instead of starting a new one.
    """
    rows = session.execute(
        select(Suggestion.segment_id, Suggestion.code_key, Suggestion.group_key, Segment.text_hash)
        .join(Segment, Segment.id == Suggestion.segment_id)
        .where(Suggestion.status == "queued", Suggestion.group_key.is_not(None))
        .order_by(Suggestion.id.desc())
        .limit(QUEUED_GROUP_WINDOW)
    ).tuples()
    groups: dict[str, dict[str, str]] = defaultdict(dict)  # text hash -> code -> group key
    for segment_id, code, key, digest in rows:
        if segment_id not in exclude:
            groups[digest].setdefault(code, key)
    out: list[dict[str, str]] = [{} for _ in range(X.shape[0])]
    if not groups:
        return out
    vectors = load_vectors(session, list(groups), identity)
    hashes = [h for h in groups if h in vectors]
    if not hashes:
        return out
    E = np.vstack([vectors[h] for h in hashes]).astype(np.float32)
    sims = np.asarray(X, dtype=np.float32) @ E.T
    best = sims.argmax(axis=1)
    for i, j in enumerate(best):
        if sims[i, j] >= NEAR_DUPLICATE_COSINE:
            out[i] = groups[hashes[int(j)]]
    return out


# --------------------------------------------------------------------------------------------------
# Retraining
# --------------------------------------------------------------------------------------------------
def human_decisions(session: Session, codes: Sequence[str]) -> list[HumanDecision]:
    """Every human Coding row on the given codes, as decisions keyed by segment id (released transcripts
    only: a model must not learn from text held for anonymisation review)."""
    rows = session.execute(
        select(
            Coding.segment_id,
            Coding.code_key,
            Coding.coder,
            Coding.applied,
            Coding.source,
            Coding.updated_at,
            Coding.id,
        ).where(
            Coding.source.in_(HUMAN_SOURCES), Coding.code_key.in_(list(codes)), released_segment(Coding.segment_id)
        )
    ).tuples()
    return [
        HumanDecision(unit=seg, code=code, coder=coder, applied=bool(applied), source=source, at=at, order=rid)
        for seg, code, coder, applied, source, at, rid in rows
    ]


def new_decisions_since_active_model(session: Session) -> int:
    """Human decisions made (or changed) since the active model's labels were read (all if no model).

    Counted from when ``retrain`` read the labels (``labels_as_of`` in the model card), not from when the
    model row was written: decisions made while the model was training are not in it and must count.
    """
    row = active_model_row(session)
    query = (
        select(func.count())
        .select_from(Coding)
        .where(Coding.source.in_(HUMAN_SOURCES), released_segment(Coding.segment_id))
    )
    if row is not None:
        query = query.where(Coding.updated_at > _labels_as_of(row))
    return int(session.scalar(query) or 0)


def _labels_as_of(row: ModelVersion) -> dt.datetime:
    stamp = ((row.card or {}).get("training") or {}).get("labels_as_of")
    try:
        return dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else row.created_at
    except ValueError:
        return row.created_at


def embeddings_changed(session: Session, settings: Settings | None = None) -> bool:
    """Whether the active model was trained on embeddings other than the configured ones.

    Such a model cannot score (see ``SuggestionModel.check_embedding_model``) and the batch pauses its
    suggest stage, so the retrain flow retrains at once however few decisions are new.
    """
    row = active_model_row(session)
    return row is not None and row.embedding_model != settings_identity(settings or get_settings())


def should_retrain(session: Session, settings: Settings | None = None) -> bool:
    """Enough new human decisions since the active model, or a model the configured embeddings do not fit."""
    settings = settings or get_settings()
    return (
        new_decisions_since_active_model(session) >= settings.retrain_min_new_decisions
        or embeddings_changed(session, settings)
    )


def _training_groups(segments: Sequence[Segment], kinds: dict[int, str], X: np.ndarray) -> np.ndarray:
    """CV groups: one per interview transcript (its overlapping windows are not independent); imported
    units are independent except near-duplicates, which share a group."""
    leaders = near_duplicate_groups(X)
    keys = [
        f"t{s.transcript_id}" if kinds.get(s.transcript_id) != "import" else f"u{segments[int(leaders[i])].id}"
        for i, s in enumerate(segments)
    ]
    _, groups = np.unique(np.array(keys), return_inverse=True)
    return groups


def _segments(session: Session, segment_ids: Sequence[int]) -> dict[int, Segment]:
    ids = sorted(set(segment_ids))
    return {
        s.id: s
        for start in range(0, len(ids), 500)  # bounded IN lists on both backends
        for s in session.scalars(select(Segment).where(Segment.id.in_(ids[start : start + 500])))
    }


def embed_labelled_segments(session: Session, settings: Settings | None = None) -> int:
    """Cache the embeddings of every segment a person has decided on; returns how many were new.

    Why a step of its own: ``retrain`` trains for minutes inside its caller's transaction. Run this first,
    in a short transaction of its own (the retrain flow and ``qualcode retrain`` do), and retrain writes
    nothing until training is over, so on SQLite it does not hold the write lock while the model trains
    (imported examples are never embedded by the batch, so the first retrain would otherwise embed them
    all and keep the web app and the batch waiting).
    """
    settings = settings or get_settings()
    ids = session.scalars(
        select(Coding.segment_id)
        .where(Coding.source.in_(HUMAN_SOURCES), released_segment(Coding.segment_id))
        .distinct()
    ).all()
    segments = _segments(session, ids)
    _, new = embed_texts_cached(session, [segments[i].text for i in sorted(segments)], get_embedder(settings))
    return new


def retrain(session: Session, settings: Settings | None = None, *, actor: str = "flow") -> ModelVersion | None:
    """Train a new model on all human decisions, activate it and re-score the review queue.

    Returns ``None`` (and changes nothing) when no code has ``min_positive_examples`` positive and
    negative labels yet: the project stays in cold-start mode. When an overlapping retrain that read its
    labels later has already activated its model, the new model is stored but not activated
    (``row.is_active`` is False), so an older view of the labels never replaces a newer one.

    Transactions: the session's work so far is committed once the model is trained, and the activation
    (new row, audit, re-scoring) runs in a new transaction under the ``model-activation`` write lock.
    """
    settings = settings or get_settings()
    codebook = ensure_active_codebook(session, settings)
    codes = codebook.code_ids
    labels_as_of = utcnow()  # the same naive-UTC clock as Coding.updated_at
    decisions = human_decisions(session, codes)
    labels = resolve_labels(decisions)
    shares = resolve_shares(decisions)
    unit_ids = sorted({unit for unit, _ in shares})
    Y = label_matrix(unit_ids, codes, labels)
    enough = ((Y == 1).sum(axis=0) >= settings.min_positive_examples) & (
        (Y == 0).sum(axis=0) >= settings.min_positive_examples
    )
    if not enough.any():
        audit(
            session,
            actor,
            "model.retrain_skipped",
            "codebook_version",
            codebook.content_hash[:16],
            labelled_units=len(unit_ids),
            min_positive_examples=settings.min_positive_examples,
        )
        return None
    segments_by_id = _segments(session, unit_ids)
    segments = [segments_by_id[u] for u in unit_ids]
    kinds = dict(
        session.execute(
            select(Transcript.id, Transcript.kind).where(Transcript.id.in_({s.transcript_id for s in segments}))
        )
        .tuples()
        .all()
    )
    embedder = get_embedder(settings)
    texts = [s.text for s in segments]
    X, _ = embed_texts_cached(session, texts, embedder)
    model = train_model(
        codebook,
        X,
        Y,
        texts=texts,
        Y_fit=share_matrix(unit_ids, codes, shares),
        embedder=embedder,
        groups=_training_groups(segments, kinds, X),
        config=TrainingConfig.from_settings(settings),
    )
    model.card["training"]["labels_as_of"] = labels_as_of.isoformat()
    path = Path(settings.models_dir) / model.version
    model.save(path)
    # Two retrains can overlap (the weekly and the when-due deployment, or a person running `qualcode
    # retrain`). The one that read its labels later must stay active, whichever finishes last, and only
    # one model may ever be active: the decision below runs under a write lock, in a transaction of its
    # own that sees every activation committed before it (a unique index backs this up).
    session.commit()
    lock_writes(session, "model-activation")
    cb_row = codebook_row(session, codebook)
    active = session.scalars(select(ModelVersion).where(ModelVersion.is_active.is_(True))).all()
    newer = [m.version for m in active if (_labels_as_of(m) or labels_as_of) > labels_as_of]
    activate = not newer
    if activate:
        for old in active:
            old.is_active = False
        session.flush()  # before the insert: at most one active row at any moment (unique index)
    row = ModelVersion(
        version=model.version,
        path=str(path),
        codebook_id=cb_row.id if cb_row is not None else None,
        embedding_model=model.embedding_model,
        card=model.card,
        stale_codes=[],
        is_active=activate,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        "model.train",
        "model_version",
        model.version,
        units=len(unit_ids),
        codes_trained=len(model.learned_codes),
        codes=len(codes),
        activated=activate,
        kept_active=newer,
    )
    if activate:
        rescore_queued(session, settings)
    return row


def _labels_as_of(row: ModelVersion) -> dt.datetime | None:
    """When the labels a stored model was trained on were read (from its card), or None if unknown."""
    value = ((row.card or {}).get("training") or {}).get("labels_as_of")
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def rescore_queued(session: Session, settings: Settings | None = None) -> SuggestStats:
    """Supersede queued suggestions that the current scorer would score differently, and score them again.

    A queued suggestion is out of date when it was made by another model version, when its code's
    definition changed since the active model was trained (a stale code, now scored by cold start from
    its new wording) and it was not already a cold-start score, or when its code left the codebook (then
    it is only superseded). "Current" is the version that would score now: the active model, or in
    cold-start mode the cold-start model of the active codebook (its version changes with the codebook).
    Comparing with the active model row alone would, in cold-start mode, supersede every queued
    suggestion of the current version, and nothing would replace them, emptying the queue.
    """
    settings = settings or get_settings()
    queued = session.scalars(select(Suggestion).where(Suggestion.status == "queued")).all()
    if not queued:  # nothing to re-score: do not load the embedding model (e.g. a codebook import)
        return SuggestStats()
    scorer = _scorer(session, settings)
    current = scorer.version
    codes = set(scorer.codebook.code_ids)
    only: dict[int, set[str]] = defaultdict(set)
    removed = 0
    for suggestion in queued:
        gone = suggestion.code_key not in codes
        stale = suggestion.code_key in scorer.stale and not suggestion.cold_start
        if suggestion.model_version == current and not (gone or stale):
            continue
        suggestion.status = "superseded"
        if gone:
            removed += 1
        else:
            only[suggestion.segment_id].add(suggestion.code_key)
    if not only and not removed:
        return SuggestStats(model_version=current)
    session.flush()
    stats = suggest_for_segments(session, sorted(only), settings, only_codes=dict(only), rescore_superseded=True)
    audit(
        session,
        "flow",
        "suggest.rescore",
        "model_version",
        stats.model_version,
        superseded=sum(len(v) for v in only.values()) + removed,
        removed_codes=removed,
        queued=stats.queued,
        applied=stats.applied,
    )
    return stats
