"""The counts channel: how *often* a unit mentions sums of money, percentages, years, numbers and quotes.

Why a third channel next to the embeddings and the words:
- Some codes hinge on how much a unit talks about one kind of thing, not on which words it uses: "does the
  story mention financial losses or gains?" is answered by the sums of money in it. A mean-pooled
  sentence embedding blurs that, and the word channel's TF-IDF vectors are normalised to unit length,
  so in a long unit the fifth mention of a sum weighs little more than the first.
- Here each unit becomes seven numbers: ``log(1 + count)`` of each marker kind (see
  :func:`~pipeline.suggest.lexical.shape_numbers`, plus spelled-out sums such as "billions of dollars",
  and anonymisation placeholders) and the log of its length, standardised on the training units. The
  same calibrated, class-weighted :class:`~pipeline.suggest.estimator.CodeSuggester` learns each code
  from them.
- Its share of the blend is chosen per code on out-of-fold scores (``training.choose_channel_weights``),
  so codes these counts do not predict give it no weight. Measured on Narrative Frames
  (``bench/eval_suggest.py``): ROC AUC of "financial losses or gains" (ec2) 0.875 -> 0.97.

Privacy: the fitted state is seven means, seven scales and one small logistic regression per code; no
word or number of any unit is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils.validation import check_is_fitted

from pipeline.errors import ModelError
from pipeline.placeholders import PLACEHOLDER_RE
from pipeline.suggest.lexical import TextChannelSuggester, shape_numbers

#: Marker words counted, in feature order: those of :func:`shape_numbers`, and one per anonymisation
#: placeholder (``[PERSON_7]``), which would otherwise count as a number and three words.
COUNTED_MARKERS: tuple[str, ...] = ("xxmoney", "xxpercent", "xxyear", "xxnumber", "xxquote", "xxplaceholder")

#: Features per unit: one per counted marker, then the unit's length.
FEATURE_NAMES: tuple[str, ...] = (*(f"log1p_{m.removeprefix('xx')}" for m in COUNTED_MARKERS), "log_tokens")

_UNIT = r"(?:dollars?|pounds?|euros?|cents?|pence)"
_SCALE = r"(?:hundreds?|thousands?|millions?|billions?|trillions?|bn|tn|m|k)"

#: Sums of money that :data:`~pipeline.suggest.lexical.NUMBER_SHAPES` does not see because they are
#: spelled out or have the currency after the number ("billions of dollars", "200 billion euro",
#: "25 cents", "a billion-dollar plan", "16.3tn"). Counted here only: changing the word channel's shapes
#: would change what models already saved read.
SPELLED_MONEY: tuple[re.Pattern[str], ...] = (
    re.compile(
        rf"\b(?:(?:tens|hundreds|thousands|millions|billions|trillions)\s+of\s+)+(?:US\s+)?{_UNIT}", re.IGNORECASE
    ),
    re.compile(rf"\d[\d,.]*\s?(?:{_SCALE}\s)?\s?(?:US\s+)?{_UNIT}\b", re.IGNORECASE),
    re.compile(r"\b(?:multi-?)?(?:billion|million|trillion)-(?:dollar|pound|euro)\b", re.IGNORECASE),
    re.compile(r"\b\d[\d,.]*\s?(?:bn|tn)\b", re.IGNORECASE),
)


def count_features(texts: Sequence[str]) -> np.ndarray:
    """Raw features, shape (n_texts, len(FEATURE_NAMES)): log counts of each marker kind and log length."""
    rows = np.zeros((len(texts), len(FEATURE_NAMES)), dtype=np.float64)
    for i, text in enumerate(texts):
        text = PLACEHOLDER_RE.sub(" xxplaceholder ", text)
        for pattern in SPELLED_MONEY:
            text = pattern.sub(" xxmoney ", text)
        tokens = shape_numbers(text).split()
        counts = [tokens.count(marker) for marker in COUNTED_MARKERS]
        rows[i] = [*np.log1p(counts), np.log1p(len(tokens))]
    return rows


class CountCodeSuggester(TextChannelSuggester):
    """Multi-label code classifier on :func:`count_features` of raw texts (one calibrated model per code).

    ``X`` is a sequence of strings; ``y`` follows :class:`CodeSuggester` (2-D: 1, 0, a share of coders,
    or -1 unknown).

    Parameters
    ----------
    C : float, default=0.1
        Inverse regularisation of each code's logistic regression. A few standardised features need little
        freedom; strong regularisation keeps a code these counts do not predict close to its base rate.
    class_weighting, calibration, calibration_cv, min_positive
        As in :class:`CodeSuggester`.

    Attributes
    ----------
    feature_names_ : list of str
        The features it was fitted on (:data:`FEATURE_NAMES` then). Scoring selects these by name, so a
        model keeps working when a later version computes more features, and says so when it cannot.
    mean_, scale_ : ndarray of shape (n_features,)
        Standardisation fitted on the training texts.
    codes_ : CodeSuggester
        The per-code classifiers on the standardised features.
    classes_, learned_
        Those of ``codes_``.
    """

    def __init__(
        self,
        C: float = 0.1,
        class_weighting: Literal["balanced"] | None = "balanced",
        calibration: Literal["sigmoid", "isotonic"] | None = "sigmoid",
        calibration_cv: int = 3,
        min_positive: int = 1,
    ) -> None:
        self.C = C
        self.class_weighting = class_weighting
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.min_positive = min_positive

    def fit(self, X: Sequence[str], y: ArrayLike) -> CountCodeSuggester:
        """Fit the standardisation on ``X`` and one calibrated classifier per code."""
        features = count_features(self._strings(X))
        self.feature_names_ = list(FEATURE_NAMES)
        self.mean_ = features.mean(axis=0)
        scale = features.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)  # a constant feature (no quotes anywhere) stays 0
        self._fit_codes((features - self.mean_) / self.scale_, y)
        return self

    def _transform(self, X: Sequence[str]) -> np.ndarray:
        check_is_fitted(self)
        names = getattr(self, "feature_names_", None)
        if names is None:  # a development build's artefact (no release wrote one without names)
            raise ModelError("the counts channel was fitted without recording its features; retrain the model")
        index = {name: i for i, name in enumerate(FEATURE_NAMES)}
        missing = [name for name in names if name not in index]
        if missing:
            raise ModelError(
                f"the counts channel was fitted on features this version does not compute ({', '.join(missing)}); "
                "retrain the model"
            )
        columns = [index[name] for name in names]
        return (count_features(self._strings(X))[:, columns] - self.mean_) / self.scale_
