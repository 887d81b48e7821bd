"""The suggestion model as an artefact: estimator + cold-start scorer + decision policy + model card.

Why a bundle: scoring a segment needs all four pieces, and they only make sense together (thresholds
were tuned for *this* estimator, on *this* codebook, with *this* embedding model). The bundle records
what it was made for and refuses to be used with anything else.

On disk (one folder per model version)::

    model.json        metadata, codebook, policy thresholds, cold-start calibration (plain JSON)
    estimator.skops   the fitted embedding channel (CodeSuggester, or SubspaceCodeSuggester in shared
                      subspaces), saved with skops (never pickle)
    lexical.skops     the fitted TextCodeSuggester (word features), when the model has a lexical channel
    counts.skops      the fitted CountCodeSuggester (marker counts), when the model has a counts channel
    coldstart.npz     cold-start prototype vectors (numpy, loaded with allow_pickle=False)
    card.json         the model card (also rendered as card.md for people)
    card.md

Loading a ``.skops`` file only instantiates types on :data:`TRUSTED_TYPES` (skops' defaults plus the
few listed here); anything else is a :class:`~pipeline.errors.ModelError`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import skops.io as sio

from pipeline.codebook import Codebook
from pipeline.embed import embedding_identity
from pipeline.errors import ModelError
from pipeline.suggest.card import build_card, card_markdown
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.counts import CountCodeSuggester
from pipeline.suggest.estimator import CodeSuggester
from pipeline.suggest.lexical import TextCodeSuggester
from pipeline.suggest.policy import DecisionPolicy
from pipeline.suggest.subspace import SubspaceCodeSuggester

if TYPE_CHECKING:
    from pipeline.embed import Embedder

_E = TypeVar("_E", CodeSuggester, TextCodeSuggester, CountCodeSuggester)

#: Written by this version: /2 has a counts channel, which /1 readers would silently ignore (and then score
#: with thresholds tuned on a blend they do not compute), so a model with counts is /2; one without stays /1.
#: /3 has a shared-subspace embedding channel (``SubspaceCodeSuggester``), which /1 and /2 readers do not
#: know; they refuse it by its format instead of by an untrusted type deep inside the estimator file.
ARTEFACT_FORMAT = "qualcode-suggest/3"
READABLE_FORMATS = ("qualcode-suggest/1", "qualcode-suggest/2", "qualcode-suggest/3")
#: Shares of the blend may add up to this much over 1 (rounding in the weight search).
WEIGHT_TOLERANCE = 1e-9
MODEL_FILE = "model.json"
ESTIMATOR_FILE = "estimator.skops"
LEXICAL_FILE = "lexical.skops"
COUNTS_FILE = "counts.skops"
COLDSTART_FILE = "coldstart.npz"
CARD_JSON = "card.json"
CARD_MD = "card.md"

#: Types (beyond skops' built-in trusted set) that a saved estimator may contain. Listed explicitly so
#: that loading a tampered file fails instead of instantiating something unexpected.
TRUSTED_TYPES: tuple[str, ...] = (
    "pipeline.suggest.estimator.CodeSuggester",
    "pipeline.suggest.subspace.SubspaceCodeSuggester",
    "pipeline.suggest.lexical.TextCodeSuggester",
    "pipeline.suggest.counts.CountCodeSuggester",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.model_selection._split.StratifiedKFold",
)


@dataclass
class Scores:
    """Probabilities for (units x codes) and, per code, whether they came from the cold-start scorer."""

    codes: list[str]
    proba: np.ndarray
    cold_start: np.ndarray  # (n_codes,) bool


@dataclass
class SuggestionModel:
    """Everything needed to turn embeddings into decisions. Build with ``training.train_model`` or
    ``cold_start_model``; persist with ``save`` / ``load``."""

    version: str
    codebook: Codebook
    embedding_model: str
    coldstart: ColdStartScorer
    policy: DecisionPolicy
    estimator: CodeSuggester | None = None
    card: dict[str, Any] = field(default_factory=dict)
    #: Optional second channel on the segment text; its probabilities are blended with the estimator's.
    text_estimator: TextCodeSuggester | None = None
    #: Per code (codebook order), the weight of the lexical channel in the blend (0 = not used); the
    #: embeddings get 1 - lexical - counts.
    lexical_weights: np.ndarray | None = None
    #: Optional third channel: marker counts of the segment text (see ``pipeline.suggest.counts``).
    count_estimator: CountCodeSuggester | None = None
    #: Per code, the weight of the counts channel in the blend (0 = not used).
    count_weights: np.ndarray | None = None

    @property
    def codes(self) -> list[str]:
        return self.codebook.code_ids

    @property
    def learned(self) -> np.ndarray:
        """Per code: True when the trained estimator scores it (False: cold start)."""
        if self.estimator is None:
            return np.zeros(len(self.codes), dtype=bool)
        return np.asarray(self.estimator.learned_, dtype=bool)

    @property
    def learned_codes(self) -> list[str]:
        return [c for c, ok in zip(self.codes, self.learned, strict=True) if ok]

    @property
    def uses_text(self) -> bool:
        """Whether scoring needs the units' text as well as their embeddings."""
        if self.estimator is None:
            return False
        words = self.text_estimator is not None and _any_positive(self.lexical_weights)
        counts = self.count_estimator is not None and _any_positive(self.count_weights)
        return words or counts

    def score(self, X: np.ndarray, stale_codes: Collection[str] = (), texts: Sequence[str] | None = None) -> Scores:
        """Probabilities per code; unlearned and ``stale_codes`` fall back to the cold-start scorer.

        ``texts`` (the anonymised unit texts, in the order of ``X``) are required when the model uses a text
        channel (words or counts): its thresholds were tuned on the blend, so scoring without it is refused.
        """
        X = np.asarray(X, dtype=np.float32)
        learned = self.learned & ~np.isin(self.codes, list(stale_codes))
        proba = self.coldstart.predict_code_proba(X)
        if self.estimator is not None and learned.any():
            self._check_texts(texts, X.shape[0])
            try:
                trained = blend(
                    self.estimator.predict_code_proba(X),
                    self._channel_proba(self.text_estimator, self.lexical_weights, texts),
                    self.lexical_weights,
                    self._channel_proba(self.count_estimator, self.count_weights, texts),
                    self.count_weights,
                )
            except ModelError as exc:  # a channel that cannot score: say which model
                raise ModelError(f"model {self.version}: {exc}") from None
            proba[:, learned] = trained[:, learned]
        return Scores(codes=list(self.codes), proba=proba, cold_start=~learned)

    def _check_texts(self, texts: Sequence[str] | None, n: int) -> None:
        if not self.uses_text:
            return
        if texts is None:
            raise ModelError(f"model {self.version} scores the text as well as the embeddings; pass the texts")
        if len(texts) != n:
            raise ModelError(f"model {self.version}: got {len(texts)} texts for {n} embeddings")

    @staticmethod
    def _channel_proba(
        estimator: TextCodeSuggester | CountCodeSuggester | None,
        weights: np.ndarray | None,
        texts: Sequence[str] | None,
    ) -> np.ndarray | None:
        """A text channel's probabilities, or None when the model does not use it (no need to run it)."""
        if estimator is None or texts is None or not _any_positive(weights):
            return None
        return estimator.predict_code_proba(list(texts))

    def decide(self, scores: Scores) -> np.ndarray:
        """``apply`` / ``review`` / ``drop`` for every (unit, code) of ``scores``."""
        return self.policy.decide_matrix(scores.codes, scores.proba, scores.cold_start)

    def check_embedding_model(self, embedder: Embedder) -> None:
        """Refuse to score vectors made differently from the ones this model was trained on."""
        if embedder.identity == self.embedding_model:
            return
        if self.embedding_model == embedding_identity(embedder.model_name, "window"):
            raise ModelError(
                f"model {self.version} was trained before sentence pooling (on {self.embedding_model!r} "
                f"token-window embeddings) but the configured embeddings are {embedder.identity!r}; run "
                "`qualcode retrain` (the retrain flow does it by itself), or set QUALCODE_EMBEDDING_POOLING=window"
            )
        raise ModelError(
                f"model {self.version} was trained on {self.embedding_model!r} embeddings but the configured "
                f"embeddings are {embedder.identity!r}; retrain, or set QUALCODE_EMBEDDING_MODEL and "
                "QUALCODE_EMBEDDING_POOLING to what the model was trained with"
            )

    # -- persistence ---------------------------------------------------------------------------------
    def _format(self) -> str:
        """The oldest format that holds this model, so older readers load what they can score fully."""
        if isinstance(self.estimator, SubspaceCodeSuggester):
            return ARTEFACT_FORMAT
        return READABLE_FORMATS[1] if self.count_estimator is not None else READABLE_FORMATS[0]

    def save(self, directory: Path | str) -> Path:
        """Write the artefact folder (created if needed) and return it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": self._format(),
            "version": self.version,
            "embedding_model": self.embedding_model,
            "codebook": self.codebook.to_dict(),
            "codebook_hash": self.codebook.content_hash,
            "definition_hashes": self.codebook.definition_hashes,
            "policy": self.policy.to_dict(),
            "coldstart": {**self.coldstart.params(), "codes": self.coldstart.codes},
            "has_estimator": self.estimator is not None,
            "has_lexical": self.text_estimator is not None,
            "lexical_weights": None if self.lexical_weights is None else np.asarray(self.lexical_weights).tolist(),
            "has_counts": self.count_estimator is not None,
            "count_weights": None if self.count_weights is None else np.asarray(self.count_weights).tolist(),
        }
        np.savez(
            directory / COLDSTART_FILE,
            prototypes=self.coldstart.prototypes.astype(np.float32),
            owner=self.coldstart.owner.astype(np.int64),
        )
        if self.estimator is not None:
            sio.dump(self.estimator, directory / ESTIMATOR_FILE)
        if self.text_estimator is not None:
            sio.dump(self.text_estimator, directory / LEXICAL_FILE)
        if self.count_estimator is not None:
            sio.dump(self.count_estimator, directory / COUNTS_FILE)
        _write_json(directory / MODEL_FILE, meta)
        _write_json(directory / CARD_JSON, self.card)
        (directory / CARD_MD).write_text(card_markdown(self.card), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> SuggestionModel:
        """Read an artefact folder written by ``save``; ``ModelError`` names the file and the problem."""
        directory = Path(directory)
        meta_path = directory / MODEL_FILE
        if not meta_path.is_file():
            raise ModelError(f"{directory}: no {MODEL_FILE} here; is this a qualcode model folder?")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{meta_path}: cannot read model metadata ({type(exc).__name__})") from None
        if meta.get("format") not in READABLE_FORMATS:
            raise ModelError(f"{meta_path}: unsupported model format {meta.get('format')!r}")
        codebook = Codebook.from_dict(meta["codebook"], source=meta_path)
        if codebook.content_hash != meta.get("codebook_hash"):
            raise ModelError(f"{meta_path}: the stored codebook does not match its recorded hash")
        try:
            with np.load(directory / COLDSTART_FILE, allow_pickle=False) as npz:
                prototypes, owner = npz["prototypes"], npz["owner"]
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{directory / COLDSTART_FILE}: cannot read ({type(exc).__name__})") from None
        cs = meta["coldstart"]
        coldstart = ColdStartScorer(
            codes=list(cs["codes"]),
            prototypes=prototypes,
            owner=owner,
            slope=float(cs["slope"]),
            centre=float(cs["centre"]),
            calibrated_on=int(cs.get("calibrated_on", 0)),
        )
        estimator = _load_estimator(directory / ESTIMATOR_FILE, CodeSuggester) if meta.get("has_estimator") else None
        if estimator is not None and len(estimator.learned_) != len(codebook.code_ids):
            raise ModelError(f"{directory / ESTIMATOR_FILE}: estimator has a different number of codes")
        lexical = _load_estimator(directory / LEXICAL_FILE, TextCodeSuggester) if meta.get("has_lexical") else None
        if lexical is not None and len(lexical.learned_) != len(codebook.code_ids):
            raise ModelError(f"{directory / LEXICAL_FILE}: lexical estimator has a different number of codes")
        counts = _load_estimator(directory / COUNTS_FILE, CountCodeSuggester) if meta.get("has_counts") else None
        if counts is not None and len(counts.learned_) != len(codebook.code_ids):
            raise ModelError(f"{directory / COUNTS_FILE}: counts estimator has a different number of codes")
        lexical_weights = _weights(meta, "lexical_weights", len(codebook.code_ids), meta_path)
        count_weights = _weights(meta, "count_weights", len(codebook.code_ids), meta_path)
        if (
            lexical_weights is not None
            and count_weights is not None
            and (lexical_weights + count_weights > 1 + WEIGHT_TOLERANCE).any()
        ):
            raise ModelError(f"{meta_path}: lexical_weights + count_weights exceed 1 for some code")
        card_path = directory / CARD_JSON
        card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
        return cls(
            version=str(meta["version"]),
            codebook=codebook,
            embedding_model=str(meta["embedding_model"]),
            coldstart=coldstart,
            policy=DecisionPolicy.from_dict(meta["policy"]),
            estimator=estimator,
            card=card,
            text_estimator=lexical,
            lexical_weights=lexical_weights,
            count_estimator=counts,
            count_weights=count_weights,
        )


def blend(
    embedding: np.ndarray,
    lexical: np.ndarray | None,
    weight: float | np.ndarray | None,
    counts: np.ndarray | None = None,
    count_weight: float | np.ndarray | None = None,
) -> np.ndarray:
    """Weighted mean of the channels' probabilities (the embedding channel alone without the others).

    ``weight`` is the lexical channel's share and ``count_weight`` the counts channel's, one number or one
    per code (column); the embeddings get the rest. All channels are calibrated, so their weighted mean
    is a probability too; thresholds are tuned on this very blend of out-of-fold scores (see
    ``training.train_model``).
    """
    result = np.asarray(embedding, dtype=np.float64)
    rest: float | np.ndarray = 1.0
    mixed = np.zeros_like(result)
    for channel, share in ((lexical, weight), (counts, count_weight)):
        if channel is None or share is None:
            continue
        w = np.asarray(share, dtype=np.float64)
        # A channel with no share adds nothing, even where it has no score (0 x NaN would be NaN).
        mixed = mixed + np.where(w > 0, w * np.nan_to_num(channel), 0.0)
        rest = rest - w
    return rest * result + mixed


def _any_positive(weights: np.ndarray | None) -> bool:
    return weights is not None and bool((np.asarray(weights) > 0).any())


def _weights(meta: dict[str, Any], key: str, n_codes: int, path: Path) -> np.ndarray | None:
    value = meta.get(key)
    if value is None:
        return None
    weights = np.asarray(value, dtype=np.float64)
    if weights.shape != (n_codes,) or not ((weights >= 0) & (weights <= 1)).all():
        raise ModelError(f"{path}: {key} must be {n_codes} numbers between 0 and 1")
    return weights


def _load_estimator(path: Path, kind: type[_E]) -> _E:
    if not path.is_file():
        raise ModelError(f"{path}: estimator file is missing")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted errors on a corrupt zip
        raise ModelError(f"{path}: not a readable skops file ({type(exc).__name__})") from None
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelError(f"{path}: refusing to load untrusted types {unexpected}")
    estimator = sio.load(path, trusted=list(untrusted))
    if not isinstance(estimator, kind):
        raise ModelError(f"{path}: expected a {kind.__name__}, found {type(estimator).__name__}")
    return estimator


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def cold_start_model(codebook: Codebook, embedder: Embedder, *, cold_start_review: float = 0.5) -> SuggestionModel:
    """A model with no trained estimator: every code is scored by the cold-start scorer.

    Its version is derived from the codebook hash and embedding identity, so suggestions made before any
    training are traceable and idempotent.
    """
    model_tag = hashlib.sha256(embedder.identity.encode("utf-8")).hexdigest()[:6]
    version = f"coldstart-{codebook.content_hash[:12]}-{model_tag}"
    model = SuggestionModel(
        version=version,
        codebook=codebook,
        embedding_model=embedder.identity,
        coldstart=ColdStartScorer.from_codebook(codebook, embedder),
        policy=DecisionPolicy(cold_start_review=cold_start_review),
    )
    model.card = build_card(model, reports={}, training={"n_units": 0, "n_labels": 0})
    return model
