"""Inter-coder agreement coefficients, vectorised so the bootstrap costs almost nothing.

Why this shape: every coefficient here (percent agreement, Cohen's and Fleiss' kappa, Scott's pi,
Conger's kappa, Krippendorff's alpha, Gwet's AC1) depends on the data only through *which rows of the
units × coders matrix occur and how often*. ``RatingMatrix`` therefore compresses the matrix into its
distinct rows ("patterns") and their frequencies, and each coefficient is written once as a function of a
``(B, P)`` array of pattern weights. The point estimate is the case ``B = 1`` with the observed
frequencies; a nonparametric bootstrap that resamples units is ``B`` multinomial draws of pattern counts
(resampling units with replacement is exactly a multinomial over the distinct rows). For binary codes and
a handful of coders there are only a few patterns, so 1,000 replicates of every coefficient take
milliseconds whatever the number of units.

Degenerate data never yields a silent 0 or NaN: a public function raises
``pipeline.errors.NotComputable`` with the reason (one coder, one category, no unit coded twice, ...).

Definitions (each matches the reference values in ``../shared/eval/agreement_reference``):

* percent agreement: mean over units with two or more ratings of the share of agreeing ordered pairs of
  ratings (for two coders, the share of units on which they agree).
* Cohen's kappa (two coders, units both coded): ``(p_o - p_e) / (1 - p_e)`` with ``p_e`` from each coder's
  own marginals; standard error and interval as in Gwet (2014) / irrCAC ``kappa2.table``.
* Scott's pi: as Cohen's kappa with pooled marginals.
* Fleiss' kappa: Fleiss (1971); with unequal numbers of ratings per unit, per-unit agreement is averaged
  over units with two or more ratings and category proportions are pooled over their ratings (identical to
  Fleiss 1971 when every unit has the same number of ratings). ``fleiss_detail`` adds the per-category
  kappas and the z statistic of R ``irr::kappam.fleiss``.
* Conger's kappa (``irr::kappam.fleiss(exact=TRUE)``): Fleiss' observed agreement, chance agreement from
  each coder's own marginals (Conger 1980); complete data only.
* Krippendorff's alpha: via the coincidence matrix (Krippendorff 2011) for the nominal, ordinal, interval
  and ratio metrics; any number of coders; units with fewer than two ratings are unpairable and dropped.
* Gwet's AC1 (Gwet 2008, 2014; irrCAC ``gwet.ac1.raw``): agreement as for percent agreement, chance
  agreement ``sum_k pi_k (1 - pi_k) / (q - 1)`` over the ``q`` categories of the code (declared categories,
  not only the observed ones, so a rare code that nobody applied still has ``q = 2``); variance from Gwet
  (2014) with the t-based interval.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from pipeline.errors import NotComputable

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
MISSING = -1

#: Bootstrap weights are processed in chunks of at most this many cells (B × patterns) to bound memory.
_CHUNK_CELLS = 4_000_000


# ------------------------------------------------------------------------------------------------------
# Input: the units × coders matrix
# ------------------------------------------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, np.floating) and bool(np.isnan(value))


@dataclass(frozen=True)
class RatingMatrix:
    """Ratings of ``n_units`` units by ``n_coders`` coders, as category indices (``-1`` = missing).

    ``categories`` are the category labels in order (numbers sort numerically, so ordinal/interval metrics
    see the right order and distances); ``codes[u, c]`` indexes into it. Build one with ``from_array``
    (a units × coders table with ``None``/NaN for missing) or ``from_records`` (long-format triples).
    Declaring ``categories`` explicitly matters for rare codes: a binary code nobody applied still has the
    two categories ``(0, 1)``.
    """

    codes: np.ndarray
    categories: tuple[Hashable, ...]
    coders: tuple[str, ...]
    units: tuple[Hashable, ...] = ()
    _patterns: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)
    _pattern_of_rated: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes, dtype=np.int64)
        if codes.ndim != 2:
            raise ValueError(f"ratings must be a 2-D units × coders matrix, got {codes.ndim} dimension(s)")
        if len(self.coders) != codes.shape[1]:
            raise ValueError(f"{len(self.coders)} coder names for {codes.shape[1]} columns")
        if codes.size and (codes.max() >= len(self.categories) or codes.min() < MISSING):
            raise ValueError("category index out of range")
        object.__setattr__(self, "codes", codes)
        rated = codes[(codes != MISSING).any(axis=1)]
        if rated.shape[0]:
            rows, inverse, counts = np.unique(rated, axis=0, return_inverse=True, return_counts=True)
        else:
            rows, inverse = np.empty((0, codes.shape[1]), np.int64), np.empty(0, np.int64)
            counts = np.empty(0, np.int64)
        object.__setattr__(self, "_patterns", (rows, counts.astype(np.float64)))
        object.__setattr__(self, "_pattern_of_rated", np.asarray(inverse).ravel())

    # --- constructors ------------------------------------------------------------------------------
    @classmethod
    def from_array(
        cls,
        data: Any,
        *,
        categories: Sequence[Hashable] | None = None,
        coders: Sequence[str] | None = None,
        units: Sequence[Hashable] | None = None,
        coders_by_units: bool = False,
    ) -> RatingMatrix:
        """A matrix from a units × coders table (``coders_by_units=True`` for the transposed layout).

        Missing ratings are ``None`` or NaN. Values may be numbers or strings.
        """
        table = [list(row) for row in data]
        if coders_by_units:
            table = [list(col) for col in zip(*table, strict=True)] if table else []
        n_coders = len(table[0]) if table else len(coders or ())
        values = [v for row in table for v in row if not _is_missing(v)]
        cats = _category_order(values if categories is None else list(categories))
        index = {cat: i for i, cat in enumerate(cats)}
        codes = np.full((len(table), n_coders), MISSING, dtype=np.int64)
        for u, row in enumerate(table):
            if len(row) != n_coders:
                raise ValueError(f"row {u + 1} has {len(row)} ratings, expected {n_coders}")
            for c, value in enumerate(row):
                if _is_missing(value):
                    continue
                key = _normalise(value)
                if key not in index:
                    raise ValueError(f"row {u + 1}: value {value!r} is not one of the declared categories")
                codes[u, c] = index[key]
        names = tuple(coders) if coders is not None else tuple(f"coder{i + 1}" for i in range(n_coders))
        return cls(codes, tuple(cats), names, tuple(units) if units is not None else ())

    @classmethod
    def from_records(
        cls,
        records: Iterable[tuple[Hashable, str, Any]],
        *,
        categories: Sequence[Hashable] | None = None,
    ) -> RatingMatrix:
        """A matrix from long-format ``(unit, coder, value)`` triples (one per rating).

        A repeated (unit, coder) keeps the last value, as a later decision supersedes an earlier one.
        """
        # Written for speed (reports build one matrix per code, theme and coder pair): plain dict
        # factorisation in comprehensions, no per-value function calls on the common path.
        rows = [r for r in records if r[2] is not None and r[2] == r[2]]  # r[2] != r[2] only for NaN
        unit_index: dict[Hashable, int] = {}
        coder_index: dict[str, int] = {}
        u_idx = [unit_index.setdefault(r[0], len(unit_index)) for r in rows]
        c_idx = [coder_index.setdefault(r[1], len(coder_index)) for r in rows]
        if categories is None:
            values = [_normalise(r[2]) for r in rows]
            cats = _category_order(values)
        else:
            values = [r[2] for r in rows]
            cats = _category_order(list(categories))
        # dict look-up treats 1, 1.0, True and numpy integers as the same key (equal hashes).
        index = {cat: i for i, cat in enumerate(cats)}
        try:
            cat_idx = [index[v] for v in values]
        except (KeyError, TypeError):
            bad = next(v for v in values if _normalise(v) not in index)
            raise ValueError(f"value {bad!r} is not one of the declared categories") from None
        codes = np.full((len(unit_index), len(coder_index)), MISSING, dtype=np.int64)
        if rows:
            codes[np.asarray(u_idx), np.asarray(c_idx)] = cat_idx
        return cls(codes, tuple(cats), tuple(coder_index), tuple(unit_index))

    @classmethod
    def from_codes(
        cls,
        codes: np.ndarray,
        categories: Sequence[Hashable],
        coders: Sequence[str] | None = None,
    ) -> RatingMatrix:
        """A matrix from an integer index array directly (the fast path for large reports)."""
        codes = np.asarray(codes, dtype=np.int64)
        names = tuple(coders) if coders is not None else tuple(f"coder{i + 1}" for i in range(codes.shape[1]))
        return cls(codes, tuple(categories), names)

    # --- views -------------------------------------------------------------------------------------
    @property
    def n_units(self) -> int:
        """Units with at least one rating."""
        return int(self._patterns[1].sum())

    @property
    def n_pairable(self) -> int:
        """Units with two or more ratings (the ones any agreement coefficient can use)."""
        rows, counts = self._patterns
        return int(counts[((rows != MISSING).sum(axis=1) >= 2)].sum())

    @property
    def n_coders(self) -> int:
        """Coders with at least one rating."""
        return int((self.codes != MISSING).any(axis=0).sum())

    @property
    def n_ratings(self) -> int:
        return int((self.codes != MISSING).sum())

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    def select_coders(self, names: Sequence[str]) -> RatingMatrix:
        """The sub-matrix of these coders (for pairwise statistics)."""
        cols = [self.coders.index(n) for n in names]
        return RatingMatrix(self.codes[:, cols], self.categories, tuple(names), self.units)

    def numeric_values(self) -> np.ndarray:
        """Category labels as floats (interval and ratio metrics); ``NotComputable`` if not numeric."""
        try:
            return np.array([float(c) for c in self.categories], dtype=np.float64)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise NotComputable("interval/ratio metrics need numeric categories") from None


def _normalise(value: Any) -> Hashable:
    """Make 1, 1.0, np.int64(1) and True the same category; leave strings alone."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if float(value).is_integer() else float(value)
    return value


def _category_order(values: Sequence[Hashable]) -> list[Hashable]:
    unique = list(dict.fromkeys(_normalise(v) for v in values))
    if all(isinstance(v, int | float) for v in unique):
        return sorted(unique)  # type: ignore[type-var]
    return sorted(unique, key=str)


def as_matrix(data: RatingMatrix | Any) -> RatingMatrix:
    """Accept a ``RatingMatrix`` or a units × coders array-like (``None``/NaN = missing)."""
    return data if isinstance(data, RatingMatrix) else RatingMatrix.from_array(data)


# ------------------------------------------------------------------------------------------------------
# Pattern algebra: every coefficient as a function of (B, P) pattern weights
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Design:
    """Per-pattern quantities shared by the coefficients (computed once per matrix)."""

    rows: np.ndarray  # (P, C) category index or -1
    freq: np.ndarray  # (P,) observed frequency
    counts: np.ndarray  # (P, K) ratings per category
    m: np.ndarray  # (P,) ratings per unit
    q: int  # declared categories

    @classmethod
    def of(cls, data: RatingMatrix) -> _Design:
        rows, freq = data._patterns
        k = data.n_categories
        counts = np.zeros((rows.shape[0], k), dtype=np.float64)
        for col in range(rows.shape[1]):
            present = rows[:, col] != MISSING
            np.add.at(counts, (np.nonzero(present)[0], rows[present, col]), 1.0)
        return cls(rows, freq, counts, counts.sum(axis=1), k)

    @property
    def pairable(self) -> np.ndarray:
        return self.m >= 2

    def unit_agreement(self) -> np.ndarray:
        """Share of agreeing ordered rating pairs per pattern (0 where unpairable)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            agree = (self.counts * (self.counts - 1)).sum(axis=1) / (self.m * (self.m - 1))
        return np.where(self.pairable, agree, 0.0)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den > 0, out, np.nan)


def _chance_corrected(po: np.ndarray, pe: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (po - pe) / (1.0 - pe)
    return np.where(1.0 - pe > 1e-12, value, np.nan)


def _w_percent(d: _Design, w: np.ndarray) -> np.ndarray:
    pairable = d.pairable.astype(np.float64)
    return _safe_div(w @ d.unit_agreement(), w @ pairable)


def _w_fleiss(d: _Design, w: np.ndarray) -> np.ndarray:
    pairable = d.pairable.astype(np.float64)
    po = _w_percent(d, w)
    totals = w @ (d.counts * pairable[:, None])  # (B, K)
    p = _safe_div(totals, totals.sum(axis=1, keepdims=True))
    return _chance_corrected(po, (p**2).sum(axis=1))


def _w_gwet(d: _Design, w: np.ndarray) -> np.ndarray:
    if d.q < 2:
        return np.full(w.shape[0], np.nan)
    po = _w_percent(d, w)
    rated = (d.m >= 1).astype(np.float64)
    share = _safe_div(d.counts, d.m[:, None])
    share = np.where(rated[:, None] > 0, share, 0.0)
    pi = _safe_div(w @ share, (w @ rated)[:, None])
    pe = (pi * (1.0 - pi)).sum(axis=1) / (d.q - 1)
    return _chance_corrected(po, pe)


def _pair_tables(d: _Design, w: np.ndarray) -> np.ndarray:
    """(B, K, K) cross-tabulations of coder 0 (rows) by coder 1 (columns) over units both coded."""
    k = d.q
    both = (d.rows[:, 0] != MISSING) & (d.rows[:, 1] != MISSING)
    onehot = np.zeros((d.rows.shape[0], k * k))
    idx = np.nonzero(both)[0]
    onehot[idx, d.rows[idx, 0] * k + d.rows[idx, 1]] = 1.0
    return (w @ onehot).reshape(w.shape[0], k, k)


def _w_cohen(d: _Design, w: np.ndarray) -> np.ndarray:
    tables = _pair_tables(d, w)
    n = tables.sum(axis=(1, 2))
    p = tables / np.where(n > 0, n, 1.0)[:, None, None]
    po = np.trace(p, axis1=1, axis2=2)
    pe = (p.sum(axis=2) * p.sum(axis=1)).sum(axis=1)
    return np.where(n > 0, _chance_corrected(po, pe), np.nan)


def _w_scott(d: _Design, w: np.ndarray) -> np.ndarray:
    tables = _pair_tables(d, w)
    n = tables.sum(axis=(1, 2))
    p = tables / np.where(n > 0, n, 1.0)[:, None, None]
    po = np.trace(p, axis1=1, axis2=2)
    pooled = (p.sum(axis=2) + p.sum(axis=1)) / 2.0
    return np.where(n > 0, _chance_corrected(po, (pooled**2).sum(axis=1)), np.nan)


def _coincidence_parts(d: _Design) -> np.ndarray:
    """(P, K*K) contribution of one unit of each pattern to Krippendorff's coincidence matrix."""
    k = d.q
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(d.pairable, 1.0 / (d.m - 1), 0.0)
    outer = d.counts[:, :, None] * d.counts[:, None, :]
    outer[:, np.arange(k), np.arange(k)] -= d.counts
    return (outer * scale[:, None, None]).reshape(-1, k * k)


def _delta(level: Level, n_c: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """Squared distances between categories, (B, K, K); ordinal depends on the marginals ``n_c``."""
    b, k = n_c.shape
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(k), (b, k, k))
    if level == "ordinal":
        cum = np.concatenate([np.zeros((b, 1)), np.cumsum(n_c, axis=1)], axis=1)  # cum[:, i] = sum_{g<i}
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        between = cum[:, hi + 1] - cum[:, lo]  # sum_{g=lo}^{hi} n_g
        return (between - (n_c[:, :, None] + n_c[:, None, :]) / 2.0) ** 2
    assert values is not None
    diff = values[:, None] - values[None, :]
    if level == "interval":
        return np.broadcast_to(diff**2, (b, k, k))
    total = values[:, None] + values[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total != 0, (diff / total) ** 2, 0.0)
    return np.broadcast_to(ratio, (b, k, k))


def _w_alpha(d: _Design, w: np.ndarray, level: Level, values: np.ndarray | None) -> np.ndarray:
    k = d.q
    o = (w @ _coincidence_parts(d)).reshape(w.shape[0], k, k)
    n_c = o.sum(axis=2)
    n = n_c.sum(axis=1)
    delta = _delta(level, n_c, values)
    observed = (o * delta).sum(axis=(1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * observed / expected
    return np.where((expected > 1e-12) & (n > 1), alpha, np.nan)


# ------------------------------------------------------------------------------------------------------
# Checks that turn degenerate data into a stated reason
# ------------------------------------------------------------------------------------------------------
def _require_pairable(data: RatingMatrix, what: str) -> None:
    if data.n_coders < 2:
        raise NotComputable(f"{what}: needs at least two coders, found {data.n_coders}")
    if data.n_pairable == 0:
        raise NotComputable(f"{what}: no unit was rated by two or more coders (no overlap)")


def _require_two(data: RatingMatrix, what: str) -> None:
    if data.codes.shape[1] != 2:
        raise NotComputable(f"{what}: defined for exactly two coders, found {data.codes.shape[1]}")
    both = ((data.codes != MISSING).sum(axis=1) == 2).sum()
    if both == 0:
        raise NotComputable(f"{what}: the two coders rated no unit in common (no overlap)")


def _single_category_reason(what: str, data: RatingMatrix) -> str:
    used = np.unique(data.codes[data.codes != MISSING])
    if used.size <= 1:
        label = data.categories[int(used[0])] if used.size else "none"
        return (
            f"{what}: every rating is the same category ({label!r}), so chance agreement is 1 "
            "and the coefficient is undefined"
        )
    return f"{what}: chance agreement is 1 (the coders' marginals leave no room for disagreement)"


def _point(value: np.ndarray, reason: Callable[[], str]) -> float:
    scalar = float(value[0])
    if not np.isfinite(scalar):
        raise NotComputable(reason())
    return scalar


# ------------------------------------------------------------------------------------------------------
# Public coefficients
# ------------------------------------------------------------------------------------------------------
def percent_agreement(data: RatingMatrix | Any) -> float:
    """Share of agreeing rating pairs, averaged over units rated at least twice."""
    data = as_matrix(data)
    _require_pairable(data, "percent agreement")
    d = _Design.of(data)
    return _point(_w_percent(d, d.freq[None, :]), lambda: "percent agreement: no pairable unit")


def cohen_kappa(data: RatingMatrix | Any) -> float:
    """Cohen's kappa for exactly two coders, over the units both of them rated."""
    data = as_matrix(data)
    _require_two(data, "Cohen's kappa")
    d = _Design.of(data)
    return _point(_w_cohen(d, d.freq[None, :]), lambda: _single_category_reason("Cohen's kappa", data))


def scott_pi(data: RatingMatrix | Any) -> float:
    """Scott's pi for exactly two coders (pooled marginals)."""
    data = as_matrix(data)
    _require_two(data, "Scott's pi")
    d = _Design.of(data)
    return _point(_w_scott(d, d.freq[None, :]), lambda: _single_category_reason("Scott's pi", data))


def fleiss_kappa(data: RatingMatrix | Any) -> float:
    """Fleiss' kappa for any number of coders (see the module docstring for unequal ratings per unit)."""
    data = as_matrix(data)
    _require_pairable(data, "Fleiss' kappa")
    d = _Design.of(data)
    return _point(_w_fleiss(d, d.freq[None, :]), lambda: _single_category_reason("Fleiss' kappa", data))


def krippendorff_alpha(data: RatingMatrix | Any, level: Level = "nominal") -> float:
    """Krippendorff's alpha for ``level`` in nominal, ordinal, interval, ratio (missing values allowed)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")
    data = as_matrix(data)
    _require_pairable(data, "Krippendorff's alpha")
    values = data.numeric_values() if level in ("interval", "ratio") else None
    d = _Design.of(data)
    return _point(
        _w_alpha(d, d.freq[None, :], level, values),
        lambda: _single_category_reason("Krippendorff's alpha", data),
    )


def gwet_ac1(data: RatingMatrix | Any) -> float:
    """Gwet's AC1 for any number of coders (missing values allowed)."""
    data = as_matrix(data)
    _require_pairable(data, "Gwet's AC1")
    if data.n_categories < 2:
        raise NotComputable("Gwet's AC1: the code has a single category, so chance agreement is undefined")
    d = _Design.of(data)
    return _point(_w_gwet(d, d.freq[None, :]), lambda: "Gwet's AC1: chance agreement is 1")


# ------------------------------------------------------------------------------------------------------
# Analytic details and standard errors (for the published reference values)
# ------------------------------------------------------------------------------------------------------
def _t_quantile(confidence: float, n: float) -> float:
    """Two-sided Student t quantile with ``n - 1`` degrees of freedom, as irrCAC uses for its intervals."""
    return float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) if n > 1 else float("nan")


@dataclass(frozen=True)
class GwetResult:
    """Gwet's AC1 with its parts and the Gwet (2014) variance (t-based interval, capped at 1)."""

    coefficient: float
    pa: float
    pe: float
    se: float
    ci_low: float
    ci_high: float


def gwet_ac1_detail(data: RatingMatrix | Any, confidence: float = 0.95) -> GwetResult:
    """AC1 with ``pa``, ``pe`` and the standard error of Gwet (2014, ch. 5; irrCAC ``gwet.ac1.raw``).

    Units without any rating are dropped first; the finite-population correction is 0 (infinite
    population), as in irrCAC's default.
    """
    data = as_matrix(data)
    ac1 = gwet_ac1(data)
    d = _Design.of(data)
    freq, q = d.freq, d.q
    n = freq.sum()
    n2 = freq[d.pairable].sum()
    pa_i = d.unit_agreement()
    pa = float(freq @ pa_i / n2)
    share = d.counts / d.m[:, None]
    pi = freq @ share / n
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    ac1_i = (n / n2) * (pa_i - pe * d.pairable) / (1 - pe)
    pe_i = (d.counts @ (1 - pi)) / d.m / (q - 1)
    ac1_ix = ac1_i - 2 * (1 - ac1) * (pe_i - pe) / (1 - pe)
    var = float(freq @ (ac1_ix - ac1) ** 2) / (n * (n - 1)) if n > 1 else float("nan")
    se = float(np.sqrt(var))
    t = _t_quantile(confidence, n)
    return GwetResult(ac1, pa, pe, se, ac1 - t * se, min(1.0, ac1 + t * se))


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa with p_o, p_e, its large-sample standard error and a t-based interval (capped at 1)."""

    coefficient: float
    po: float
    pe: float
    se: float
    ci_low: float
    ci_high: float


def cohen_kappa_detail(data: RatingMatrix | Any, confidence: float = 0.95) -> KappaResult:
    """Cohen's kappa with the variance of Gwet (2014) / irrCAC ``kappa2.table`` (no weights)."""
    data = as_matrix(data)
    kappa = cohen_kappa(data)
    d = _Design.of(data)
    table = _pair_tables(d, d.freq[None, :])[0]
    n = table.sum()
    p = table / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = float(np.trace(p))
    pe = float(row @ col)
    # sum_kl p_kl [w_kl - (1 - kappa)(pb_k + pb_l)]^2 with identity weights, pb_k = col_k, pb_l = row_l
    weights = np.eye(d.q)
    term = weights - (1 - kappa) * (col[:, None] + row[None, :])
    var = ((p * term**2).sum() - (po - 2 * (1 - kappa) * pe) ** 2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    t = _t_quantile(confidence, n)
    return KappaResult(kappa, po, pe, se, kappa - t * se, min(1.0, kappa + t * se))


def gwet_ac1_table_detail(data: RatingMatrix | Any, confidence: float = 0.95) -> GwetResult:
    """Two-coder AC1 with the contingency-table variance of Gwet (2014) / irrCAC ``gwet.ac1.table``."""
    data = as_matrix(data)
    _require_two(data, "Gwet's AC1 (two coders)")
    d = _Design.of(data)
    if d.q < 2:
        raise NotComputable("Gwet's AC1: the code has a single category, so chance agreement is undefined")
    table = _pair_tables(d, d.freq[None, :])[0]
    n = table.sum()
    p = table / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    pa = float(np.trace(p))
    pi = (row + col) / 2
    pe = float((pi * (1 - pi)).sum() / (d.q - 1))
    ac1 = (pa - pe) / (1 - pe)
    # irrCAC: pe_kl = (2/(q(q-1))) * ... for identity weights the Gwet term is (1 - pi_k) + (1 - pi_l)
    pbar = (1 - pi) / (d.q - 1)
    term = np.eye(d.q) - (1 - ac1) * (pbar[:, None] + pbar[None, :])
    var = ((p * term**2).sum() - (pa - 2 * (1 - ac1) * pe) ** 2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    t = _t_quantile(confidence, n)
    return GwetResult(float(ac1), pa, pe, se, float(ac1 - t * se), float(min(1.0, ac1 + t * se)))


@dataclass(frozen=True)
class FleissResult:
    """Fleiss' kappa with per-category kappas and the z statistic of ``irr::kappam.fleiss``."""

    coefficient: float
    per_category: dict[Hashable, float | None]
    se0: float
    z: float


def fleiss_detail(data: RatingMatrix | Any) -> FleissResult:
    """Fleiss (1971) with per-category kappas and the null-hypothesis z (complete data only)."""
    data = as_matrix(data)
    kappa = fleiss_kappa(data)
    d = _Design.of(data)
    _require_complete(d, "Fleiss' z and per-category kappas")
    m = float(d.m[0])
    n = d.freq.sum()
    p = (d.freq @ d.counts) / (n * m)
    pq = p * (1 - p)
    disagreement = d.freq @ (d.counts * (m - d.counts))
    per_cat: dict[Hashable, float | None] = {}
    for j, cat in enumerate(data.categories):
        per_cat[cat] = None if pq[j] == 0 else float(1 - disagreement[j] / (n * m * (m - 1) * pq[j]))
    s = pq.sum()
    se0 = float(np.sqrt(2) / (s * np.sqrt(n * m * (m - 1))) * np.sqrt(s**2 - (pq * (1 - 2 * p)).sum()))
    return FleissResult(kappa, per_cat, se0, kappa / se0)


def conger_kappa(data: RatingMatrix | Any) -> float:
    """Conger's (1980) multi-coder kappa (``irr::kappam.fleiss(exact=TRUE)``); complete data only."""
    data = as_matrix(data)
    _require_pairable(data, "Conger's kappa")
    d = _Design.of(data)
    _require_complete(d, "Conger's kappa")
    po = float(_w_percent(d, d.freq[None, :])[0])
    n, n_coders, k = d.freq.sum(), d.rows.shape[1], d.q
    # proportion of each category used by each coder: (coders, K)
    props = np.zeros((n_coders, k))
    for c in range(n_coders):
        np.add.at(props[c], d.rows[:, c], d.freq)
    props /= n
    pe = float((props.mean(axis=0) ** 2).sum() - props.var(axis=0, ddof=1).sum() / n_coders)
    if 1 - pe <= 1e-12:
        raise NotComputable(_single_category_reason("Conger's kappa", data))
    return (po - pe) / (1 - pe)


def _require_complete(d: _Design, what: str) -> None:
    if d.rows.size == 0 or (d.rows == MISSING).any():
        raise NotComputable(f"{what}: defined for complete data (every coder rates every unit)")


# ------------------------------------------------------------------------------------------------------
# Bootstrap and the all-in-one summary
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """One coefficient: the value and a bootstrap interval, or ``None`` with the reason why not.

    ``n_boot`` is the number of bootstrap replicates in which the coefficient was computable (replicates
    that happen to draw a single category are dropped and counted here, not silently averaged in).
    """

    name: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    reason: str | None = None
    n_boot: int = 0

    @property
    def computable(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "reason": self.reason,
            "n_boot": self.n_boot,
        }


_Statistic = Callable[[_Design, np.ndarray], np.ndarray]

#: Column names used in reports, in display order.
METRICS: tuple[str, ...] = (
    "percent_agreement",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
)


def _statistics(data: RatingMatrix, level: Level) -> dict[str, tuple[Callable[[], float], _Statistic]]:
    """Point-estimate function (raises NotComputable) and vectorised replicate function per metric."""
    values = data.numeric_values() if level in ("interval", "ratio") else None
    return {
        "percent_agreement": (lambda: percent_agreement(data), _w_percent),
        "cohen_kappa": (lambda: cohen_kappa(data), _w_cohen),
        "fleiss_kappa": (lambda: fleiss_kappa(data), _w_fleiss),
        "krippendorff_alpha": (
            lambda: krippendorff_alpha(data, level),
            lambda d, w: _w_alpha(d, w, level, values),
        ),
        "gwet_ac1": (lambda: gwet_ac1(data), _w_gwet),
        "scott_pi": (lambda: scott_pi(data), _w_scott),
    }


def bootstrap_weights(
    freq: np.ndarray, n_samples: int, rng: np.random.Generator, incidence: np.ndarray | None = None
) -> Iterable[np.ndarray]:
    """Pattern counts for ``n_samples`` resamples, in memory-bounded chunks.

    Without ``incidence``, ``freq`` counts units per pattern and units are resampled (a multinomial over
    patterns). With ``incidence`` (clusters × patterns: how many units of each pattern a cluster holds),
    ``freq`` counts clusters per distinct cluster composition, whole clusters are resampled, and the
    result is converted back to pattern counts.
    """
    n = round(float(freq.sum()))
    probs = freq / freq.sum()
    chunk = max(1, _CHUNK_CELLS // max(1, freq.size))
    for start in range(0, n_samples, chunk):
        size = min(chunk, n_samples - start)
        draws = rng.multinomial(n, probs, size=size).astype(np.float64)
        yield draws if incidence is None else draws @ incidence


def cluster_incidence(data: RatingMatrix, clusters: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct cluster compositions × patterns, how many clusters have each composition).

    ``clusters`` labels each row of ``data.codes`` (for a theme roll-up: the segment of each
    (segment, code) unit), so the bootstrap can resample segments instead of their codes independently.
    """
    if len(clusters) != data.codes.shape[0]:
        raise ValueError(f"{len(clusters)} cluster labels for {data.codes.shape[0]} units")
    rated = (data.codes != MISSING).any(axis=1)
    labels = [c for c, keep in zip(clusters, rated.tolist(), strict=True) if keep]
    index: dict[Hashable, int] = {}
    cluster_of = np.fromiter((index.setdefault(c, len(index)) for c in labels), dtype=np.int64, count=len(labels))
    n_patterns = data._patterns[0].shape[0]
    incidence = np.zeros((len(index), n_patterns), dtype=np.float64)
    np.add.at(incidence, (cluster_of, data._pattern_of_rated), 1.0)
    compositions, counts = np.unique(incidence, axis=0, return_counts=True)
    return compositions, counts.astype(np.float64)


def summarise(
    data: RatingMatrix | Any,
    *,
    level: Level = "nominal",
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] = METRICS,
    clusters: Sequence[Hashable] | None = None,
) -> dict[str, Estimate]:
    """Every requested coefficient with a percentile bootstrap interval that resamples units.

    All coefficients share the same resamples, so their intervals are comparable. ``n_boot=0`` skips
    the intervals. Cohen's kappa is reported only for two coders (otherwise with the reason). With
    ``clusters`` (one label per row), whole clusters are resampled (see ``cluster_incidence``).
    """
    data = as_matrix(data)
    d = _Design.of(data)
    table = _statistics(data, level)
    point: dict[str, float | None] = {}
    reasons: dict[str, str | None] = {}
    for name in metrics:
        try:
            point[name] = table[name][0]()
            reasons[name] = None
        except NotComputable as exc:
            point[name], reasons[name] = None, exc.reason
    live = [name for name in metrics if point[name] is not None]
    reps: dict[str, list[np.ndarray]] = {name: [] for name in live}
    if n_boot > 0 and live:
        rng = np.random.default_rng(seed)
        incidence, freq = cluster_incidence(data, clusters) if clusters is not None else (None, d.freq)
        for w in bootstrap_weights(freq, n_boot, rng, incidence):
            for name in live:
                reps[name].append(table[name][1](d, w))
    out: dict[str, Estimate] = {}
    tail = (1 - confidence) / 2 * 100
    for name in metrics:
        value = point[name]
        if value is None:
            out[name] = Estimate(name, None, reason=reasons[name])
            continue
        if name not in reps or not reps[name]:
            out[name] = Estimate(name, value)
            continue
        sample = np.concatenate(reps[name])
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            out[name] = Estimate(name, value, reason="no bootstrap replicate was computable")
            continue
        low, high = np.percentile(sample, [tail, 100 - tail])
        out[name] = Estimate(name, value, float(low), float(high), n_boot=int(sample.size))
    return out
