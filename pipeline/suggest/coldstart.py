"""Cold start: suggest codes before anyone has coded an example, from the codebook's own words.

Why: a new project has a codebook but no coded segments. The codebook already says what each code is
about (definition, include rules, example passages), so each code is turned into a handful of
*prototype* vectors with the same embedder as the segments, and a segment is scored by how close it is
to them.

Scoring: for code ``k`` with prototypes ``P_k`` (the ``Code.describe()`` text, each include rule and each
example), ``s = 0.5 * cos(x, mean(P_k)) + 0.5 * max_i cos(x, P_k[i])``. The centroid term rewards
segments about the code's overall topic, the max term one that closely matches a single example.

Calibration: cosine similarities are not probabilities. A logistic map ``p = sigmoid(slope * (s - centre))``
turns them into a *rough* probability. Its defaults suit MiniLM (unrelated text scores around 0.0-0.15,
on-topic text around 0.3-0.5). Once some human decisions exist, ``calibrate`` fits the two parameters on
them (pooled over all codes, since each code alone has too few), which is what makes the numbers
comparable to a trained model's. Either way the decision policy never auto-applies a cold-start score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.linear_model import LogisticRegression

if TYPE_CHECKING:
    from pipeline.codebook import Codebook
    from pipeline.embed import Embedder

#: Default logistic map from similarity to probability (see module docstring).
DEFAULT_SLOPE = 10.0
DEFAULT_CENTRE = 0.35
#: Fewer known labels than this (or no positives / negatives) and ``calibrate`` keeps the defaults.
MIN_CALIBRATION_LABELS = 20


def code_prototype_texts(codebook: Codebook) -> tuple[list[str], list[int]]:
    """The texts embedded for each code, and the index of the code each text belongs to."""
    texts: list[str] = []
    owner: list[int] = []
    for j, code in enumerate(codebook.codes):
        for text in (code.describe(), *code.include, *code.examples):
            texts.append(text)
            owner.append(j)
    return texts, owner


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


@dataclass
class ColdStartScorer:
    """Scores segments against code prototypes. Build it with ``from_codebook``."""

    codes: list[str]
    prototypes: np.ndarray  # (n_prototypes, dim), unit vectors
    owner: np.ndarray  # (n_prototypes,) index into ``codes``
    slope: float = DEFAULT_SLOPE
    centre: float = DEFAULT_CENTRE
    calibrated_on: int = 0  # number of labels ``calibrate`` used (0 = defaults)
    _centroids: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.prototypes = _unit(np.asarray(self.prototypes, dtype=np.float32))
        self.owner = np.asarray(self.owner, dtype=np.int64)
        missing = sorted(set(range(len(self.codes))) - set(self.owner.tolist()))
        if missing:
            raise ValueError(f"codes without prototypes: {[self.codes[j] for j in missing]}")
        centroids = np.vstack([self.prototypes[self.owner == j].mean(axis=0) for j in range(len(self.codes))])
        self._centroids = _unit(centroids)

    @classmethod
    def from_codebook(cls, codebook: Codebook, embedder: Embedder) -> ColdStartScorer:
        texts, owner = code_prototype_texts(codebook)
        return cls(codes=codebook.code_ids, prototypes=embedder.encode(texts), owner=np.asarray(owner))

    def similarity(self, X: np.ndarray) -> np.ndarray:
        """Blended cosine similarity, shape (n_units, n_codes)."""
        X = _unit(np.asarray(X, dtype=np.float32))
        to_centroid = X @ self._centroids.T
        to_proto = X @ self.prototypes.T
        best = np.full((X.shape[0], len(self.codes)), -1.0, dtype=np.float32)
        for j in range(len(self.codes)):
            best[:, j] = to_proto[:, self.owner == j].max(axis=1)
        return (0.5 * to_centroid + 0.5 * best).astype(np.float64)

    def predict_code_proba(self, X: np.ndarray) -> np.ndarray:
        """Rough probability that each code applies, shape (n_units, n_codes)."""
        z = self.slope * (self.similarity(X) - self.centre)
        return 1.0 / (1.0 + np.exp(-z))

    def calibrate(self, X: np.ndarray, Y: np.ndarray) -> ColdStartScorer:
        """Fit the similarity-to-probability map on known labels (``Y`` uses -1 for unknown).

        Pooled over codes: one slope and centre for the whole codebook. Keeps the defaults when there
        are too few labels or only one class.
        """
        sims = self.similarity(X)
        Y = np.asarray(Y)
        known = Y >= 0
        s, y = sims[known], Y[known]
        if len(y) < MIN_CALIBRATION_LABELS or y.min() == y.max():
            return self
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(s.reshape(-1, 1), y)
        slope = float(lr.coef_[0, 0])
        if slope <= 0:  # similarity carries no signal here; a negative slope would invert the ranking
            return self
        self.slope = slope
        self.centre = float(-lr.intercept_[0] / slope)
        self.calibrated_on = len(y)
        return self

    def subset(self, codes: Sequence[str]) -> ColdStartScorer:
        """A scorer for some of the codes only (same prototypes and calibration)."""
        index = [self.codes.index(c) for c in codes]
        keep = np.isin(self.owner, index)
        remap = {old: new for new, old in enumerate(index)}
        return ColdStartScorer(
            codes=list(codes),
            prototypes=self.prototypes[keep],
            owner=np.array([remap[o] for o in self.owner[keep]]),
            slope=self.slope,
            centre=self.centre,
            calibrated_on=self.calibrated_on,
        )

    def params(self) -> dict[str, Any]:
        """JSON-safe calibration parameters (the vectors are stored separately, see ``model.py``)."""
        return {"slope": self.slope, "centre": self.centre, "calibrated_on": self.calibrated_on}
