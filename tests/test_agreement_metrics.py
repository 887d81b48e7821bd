"""Agreement coefficients against published values and an independent implementation.

Published values (and only those numbers) come from ../shared/eval/agreement_reference, read at run
time; the data matrices are loaded from there too, never copied here. Property tests compare
Krippendorff's alpha with the ``krippendorff`` package on random synthetic data with missing values.
"""

from __future__ import annotations

import csv
import json
from typing import Any

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.agreement.metrics import (
    RatingMatrix,
    cohen_kappa,
    cohen_kappa_detail,
    conger_kappa,
    fleiss_detail,
    fleiss_kappa,
    gwet_ac1,
    gwet_ac1_detail,
    gwet_ac1_table_detail,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
    summarise,
)
from pipeline.errors import NotComputable
from tests.conftest import eval_path


def close(value: float, expected: float, decimals: int = 3) -> bool:
    """Within half a unit of the last published decimal (the reference README's tolerance)."""
    return abs(value - expected) <= 0.5 * 10 ** (-decimals) + 1e-12


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(eval_path("agreement_reference", "reference_values.json").read_text())


@pytest.fixture(scope="module")
def k2011(reference: dict[str, Any]) -> RatingMatrix:
    data = reference["krippendorff_2011_4x12"]["data_observers_by_units"]
    return RatingMatrix.from_array(data, coders_by_units=True)


@pytest.fixture(scope="module")
def diagnoses() -> RatingMatrix:
    with eval_path("agreement_reference", "diagnoses_fleiss1971.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    raters = [f"rater{i}" for i in range(1, 7)]
    return RatingMatrix.from_array([[int(r[c]) for c in raters] for r in rows], coders=raters)


def _from_table(table: list[list[int]]) -> list[list[int]]:
    """Expand a two-coder contingency table into units × 2 ratings."""
    return [[i, j] for i, row in enumerate(table) for j, count in enumerate(row) for _ in range(count)]


# --- published values ---------------------------------------------------------------------------------
@pytest.mark.eval
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_2011_alpha(reference: dict[str, Any], k2011: RatingMatrix, level: str) -> None:
    expected = reference["krippendorff_2011_4x12"]["expected"][f"alpha_{level}"]
    assert close(krippendorff_alpha(k2011, level), expected)  # type: ignore[arg-type]


@pytest.mark.eval
def test_krippendorff_2011_gwet_ac1_with_standard_error(reference: dict[str, Any], k2011: RatingMatrix) -> None:
    expected = reference["krippendorff_2011_4x12"]["expected"]
    (gwet,) = [v for k, v in expected.items() if k.startswith("gwet_ac1")]
    result = gwet_ac1_detail(k2011)
    assert close(result.pa, gwet["pa"])
    assert close(result.pe, gwet["pe"])
    assert close(result.coefficient, gwet["coefficient"])
    assert close(result.se, gwet["se"])
    assert close(gwet_ac1(k2011), gwet["coefficient"])
    # README: 95 % CI 0.461 to 1 (upper bound capped at 1)
    assert close(result.ci_low, 0.461) and result.ci_high == 1.0


@pytest.mark.eval
def test_krippendorff_2011_single_value_unit_is_ignored(k2011: RatingMatrix) -> None:
    """Moving unit 12's lone value to another observer must not change alpha (README pitfall)."""
    codes = k2011.codes.copy()
    codes[11, 1], codes[11, 2] = codes[11, 2], -1
    moved = RatingMatrix(codes, k2011.categories, k2011.coders)
    assert krippendorff_alpha(moved) == pytest.approx(krippendorff_alpha(k2011), abs=1e-12)


@pytest.mark.eval
def test_wikipedia_alpha(reference: dict[str, Any]) -> None:
    ref = reference["wikipedia_krippendorff_3x15"]
    data = RatingMatrix.from_array(ref["data_coders_by_units"], coders_by_units=True)
    assert close(krippendorff_alpha(data, "nominal"), ref["expected"]["alpha_nominal"], 6)
    assert close(krippendorff_alpha(data, "interval"), ref["expected"]["alpha_interval"], 6)


@pytest.mark.eval
def test_fleiss_1971(reference: dict[str, Any], diagnoses: RatingMatrix) -> None:
    expected = reference["fleiss_1971_diagnoses"]["expected"]
    detail = fleiss_detail(diagnoses)
    assert close(fleiss_kappa(diagnoses), expected["fleiss_kappa"])
    assert close(detail.coefficient, expected["fleiss_kappa"])
    assert close(detail.z, expected["z"], 1)
    per_category = [detail.per_category[c] for c in (1, 2, 3, 4, 5)]
    for got, want in zip(per_category, expected["per_category_kappa"], strict=True):
        assert got is not None and close(got, want)
    assert close(conger_kappa(diagnoses), expected["fleiss_kappa_exact_conger"])


@pytest.mark.eval
def test_fleiss_1971_cohen_pair(reference: dict[str, Any], diagnoses: RatingMatrix) -> None:
    expected = reference["fleiss_1971_diagnoses"]["expected"]["cohen_kappa_rater2_vs_rater3"]
    assert close(cohen_kappa(diagnoses.select_coders(["rater2", "rater3"])), expected)


@pytest.mark.eval
def test_cohen_grant_proposals(reference: dict[str, Any]) -> None:
    ref = reference["cohen_grant_proposals_2x2"]
    t = ref["table_rowsA_colsB"]
    table = [[t["no_no"], t["A_no_B_yes"]], [t["A_yes_B_no"], t["yes_yes"]]]
    detail = cohen_kappa_detail(_from_table(table))
    assert close(detail.po, ref["expected"]["po"], 2)
    assert close(detail.pe, ref["expected"]["pe"], 2)
    assert close(detail.coefficient, ref["expected"]["kappa"], 2)


@pytest.mark.eval
def test_gwet_cont3x3abstractors(reference: dict[str, Any]) -> None:
    ref = reference["gwet_cont3x3abstractors"]
    data = _from_table(ref["table_rows_abstractor1_cols_abstractor2"])
    expected = ref["expected"]
    kappa = cohen_kappa_detail(data)
    assert close(kappa.coefficient, expected["cohen_kappa"])
    assert close(kappa.ci_low, expected["cohen_kappa_ci"][0])
    assert close(kappa.ci_high, expected["cohen_kappa_ci"][1])
    ac1 = gwet_ac1_table_detail(data)
    assert close(ac1.coefficient, expected["gwet_ac1"])
    assert close(ac1.ci_low, expected["gwet_ac1_ci"][0])
    assert close(ac1.ci_high, expected["gwet_ac1_ci"][1])
    assert close(gwet_ac1(data), expected["gwet_ac1"])
    assert close(scott_pi(data), expected["scott_pi_R_vignette"], 7)


# --- degenerate data: a reason, never a silent number -------------------------------------------------
def test_single_category_is_not_computable_with_reason() -> None:
    data = RatingMatrix.from_array([[0, 0], [0, 0], [0, 0]], categories=[0, 1])
    for fn in (cohen_kappa, fleiss_kappa, krippendorff_alpha, scott_pi):
        with pytest.raises(NotComputable, match="same category"):
            fn(data)
    # AC1 stays defined for a declared binary code (the point of using it for rare codes) ...
    assert gwet_ac1(data) == 1.0
    assert percent_agreement(data) == 1.0
    # ... but not when the code truly has a single category.
    with pytest.raises(NotComputable, match="single category"):
        gwet_ac1(RatingMatrix.from_array([[0, 0], [0, 0]]))


def test_one_coder_is_not_computable() -> None:
    data = RatingMatrix.from_array([[0], [1], [1]])
    for fn in (percent_agreement, fleiss_kappa, krippendorff_alpha, gwet_ac1):
        with pytest.raises(NotComputable, match="two coders"):
            fn(data)


def test_no_overlap_is_not_computable() -> None:
    data = RatingMatrix.from_array([[0, None], [1, None], [None, 1], [None, 0]])
    for fn in (percent_agreement, fleiss_kappa, krippendorff_alpha, gwet_ac1, cohen_kappa):
        with pytest.raises(NotComputable, match="overlap"):
            fn(data)


def test_cohen_needs_exactly_two_coders() -> None:
    with pytest.raises(NotComputable, match="exactly two coders"):
        cohen_kappa([[0, 1, 1], [1, 1, 1]])


def test_interval_alpha_needs_numeric_categories() -> None:
    data = RatingMatrix.from_array([["a", "b"], ["b", "b"], ["a", "a"]])
    with pytest.raises(NotComputable, match="numeric"):
        krippendorff_alpha(data, "interval")
    assert krippendorff_alpha(data, "nominal") == pytest.approx(
        krippendorff.alpha(reliability_data=[[0, 1, 0], [1, 1, 0]], level_of_measurement="nominal")
    )


def test_summary_reports_reasons_as_none() -> None:
    summary = summarise(RatingMatrix.from_array([[1, 1], [1, 1]], categories=[0, 1]), n_boot=50)
    alpha = summary["krippendorff_alpha"]
    assert alpha.value is None and alpha.reason and "same category" in alpha.reason
    assert alpha.to_dict()["value"] is None
    assert summary["gwet_ac1"].value == 1.0


# --- bootstrap --------------------------------------------------------------------------------------------
def _synthetic_binary(n_units: int, agreement: float, seed: int) -> np.ndarray:
    """Synthetic two-coder binary data: coder B copies coder A with probability ``agreement``."""
    rng = np.random.default_rng(seed)
    a = (rng.random(n_units) < 0.3).astype(int)
    b = np.where(rng.random(n_units) < agreement, a, rng.integers(0, 2, n_units))
    return np.column_stack([a, b])


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    data = RatingMatrix.from_codes(_synthetic_binary(400, 0.8, 1), categories=[0, 1])
    first = summarise(data, n_boot=500, seed=7)
    second = summarise(data, n_boot=500, seed=7)
    other = summarise(data, n_boot=500, seed=8)
    for name, est in first.items():
        assert est.value is not None and est.ci_low is not None and est.ci_high is not None
        assert est.ci_low <= est.value <= est.ci_high, name
        assert est.n_boot == 500
        assert second[name] == est
    assert other["krippendorff_alpha"].ci_low != first["krippendorff_alpha"].ci_low


def test_bootstrap_interval_shrinks_with_more_units() -> None:
    small = summarise(RatingMatrix.from_codes(_synthetic_binary(100, 0.8, 2), [0, 1]), n_boot=400)
    large = summarise(RatingMatrix.from_codes(_synthetic_binary(4000, 0.8, 2), [0, 1]), n_boot=400)
    width = lambda e: e.ci_high - e.ci_low  # noqa: E731
    assert width(large["cohen_kappa"]) < width(small["cohen_kappa"]) / 3


def test_bootstrap_matches_a_naive_unit_resampling_loop() -> None:
    """The pattern-multinomial trick must give the same distribution as resampling rows directly."""
    codes = _synthetic_binary(300, 0.7, 3)
    fast = summarise(RatingMatrix.from_codes(codes, [0, 1]), n_boot=2000, seed=11)["krippendorff_alpha"]
    rng = np.random.default_rng(12)
    naive = []
    for _ in range(2000):
        sample = codes[rng.integers(0, len(codes), len(codes))]
        naive.append(krippendorff_alpha(RatingMatrix.from_codes(sample, [0, 1])))
    low, high = np.percentile(naive, [2.5, 97.5])
    assert fast.ci_low == pytest.approx(low, abs=0.02)
    assert fast.ci_high == pytest.approx(high, abs=0.02)


# --- long-format input ------------------------------------------------------------------------------------
def test_from_records_matches_from_array() -> None:
    records = [
        ("u1", "ann", "x"),
        ("u1", "bob", "x"),
        ("u2", "ann", "y"),
        ("u2", "bob", "x"),
        ("u3", "ann", "y"),
        ("u3", "bob", "y"),
        ("u4", "bob", None),
    ]
    long = RatingMatrix.from_records(records)
    wide = RatingMatrix.from_array([["x", "x"], ["y", "x"], ["y", "y"]])
    assert long.n_units == 3 and long.coders == ("ann", "bob")
    assert krippendorff_alpha(long) == pytest.approx(krippendorff_alpha(wide))
    assert cohen_kappa(long) == pytest.approx(cohen_kappa(wide))


# --- property tests against the krippendorff package --------------------------------------------------------
@st.composite
def reliability_data(draw: st.DrawFn) -> np.ndarray:
    n_coders = draw(st.integers(2, 5))
    n_units = draw(st.integers(2, 25))
    n_values = draw(st.integers(2, 5))
    cells = st.one_of(st.none(), st.integers(1, n_values))
    rows = draw(st.lists(st.lists(cells, min_size=n_units, max_size=n_units), min_size=n_coders, max_size=n_coders))
    return np.array([[np.nan if v is None else float(v) for v in row] for row in rows])


@settings(max_examples=150, deadline=None)
@given(data=reliability_data(), level=st.sampled_from(["nominal", "ordinal", "interval", "ratio"]))
def test_alpha_matches_krippendorff_package(data: np.ndarray, level: str) -> None:
    ours_matrix = RatingMatrix.from_array(data.tolist(), coders_by_units=True)
    try:
        ours = krippendorff_alpha(ours_matrix, level)  # type: ignore[arg-type]
    except NotComputable:
        # Defined failures: fewer than two coders on any unit, or a single value overall.
        pairable = (~np.isnan(data)).sum(axis=0) >= 2
        values = np.unique(data[:, pairable][~np.isnan(data[:, pairable])])
        assert not pairable.any() or values.size <= 1
        return
    theirs = krippendorff.alpha(
        reliability_data=data, level_of_measurement=level, value_domain=ours_matrix.numeric_values()
    )
    assert ours == pytest.approx(theirs, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(data=reliability_data())
def test_two_coder_identities(data: np.ndarray) -> None:
    """On complete two-coder data Fleiss' kappa equals Scott's pi (a known identity)."""
    complete = data[:2, ~np.isnan(data[:2]).any(axis=0)]
    matrix = RatingMatrix.from_array(complete.tolist(), coders_by_units=True)
    try:
        pi = scott_pi(matrix)
    except NotComputable:
        return
    assert fleiss_kappa(matrix) == pytest.approx(pi, abs=1e-12)


# --- cluster bootstrap (theme roll-ups resample segments, not (segment, code) pairs) --------------------------
def _clustered(n_clusters: int, per_cluster: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """Synthetic: each cluster's rows share one draw, so rows within a cluster are strongly correlated."""
    rng = np.random.default_rng(seed)
    base = _synthetic_binary(n_clusters, 0.75, seed)
    rows = np.repeat(base, per_cluster, axis=0)
    noise = rng.random(rows.shape) < 0.05
    rows = np.where(noise, 1 - rows, rows)
    return rows, list(np.repeat(np.arange(n_clusters), per_cluster))


def test_cluster_bootstrap_matches_a_naive_cluster_resampling_loop() -> None:
    rows, clusters = _clustered(150, 4, 5)
    data = RatingMatrix.from_codes(rows, [0, 1])
    fast = summarise(data, n_boot=2000, seed=3, clusters=clusters)["krippendorff_alpha"]
    rng = np.random.default_rng(4)
    by_cluster = rows.reshape(150, 4, 2)
    naive = []
    for _ in range(2000):
        sample = by_cluster[rng.integers(0, 150, 150)].reshape(-1, 2)
        naive.append(krippendorff_alpha(RatingMatrix.from_codes(sample, [0, 1])))
    low, high = np.percentile(naive, [2.5, 97.5])
    assert fast.value == pytest.approx(krippendorff_alpha(data))
    assert fast.ci_low == pytest.approx(low, abs=0.02)
    assert fast.ci_high == pytest.approx(high, abs=0.02)


def test_cluster_bootstrap_is_wider_when_rows_are_correlated() -> None:
    rows, clusters = _clustered(100, 5, 6)
    data = RatingMatrix.from_codes(rows, [0, 1])
    flat = summarise(data, n_boot=1000, seed=1)["krippendorff_alpha"]
    clustered = summarise(data, n_boot=1000, seed=1, clusters=clusters)["krippendorff_alpha"]
    assert clustered.value == flat.value
    assert (clustered.ci_high - clustered.ci_low) > 1.5 * (flat.ci_high - flat.ci_low)  # type: ignore[operator]


# --- real disagreement: narrative_frames raw per-coder answers ------------------------------------------------
@pytest.mark.eval
def test_narrative_frames_alpha_and_kappa_match_independent_implementations() -> None:
    """Per question: our alpha equals the krippendorff package; annotator1-2 kappa equals sklearn's."""
    from sklearn.metrics import cohen_kappa_score

    raw = json.loads(eval_path("narrative_frames", "full_annotations.json").read_text(encoding="utf-8"))
    articles = sorted(raw, key=int)
    questions = [k for k in raw[articles[0]] if not k.startswith("_")]
    binary = {"yes": 1.0, "no": 0.0}
    for q in questions:
        arr = np.array(
            [
                [binary.get(raw[a][q][1][i], np.nan) if raw[a][q][1][i] != -1 else np.nan for a in articles]
                for i in range(4)
            ]
        )
        ours = krippendorff_alpha(RatingMatrix.from_array(arr.tolist(), coders_by_units=True, categories=(0, 1)))
        assert ours == pytest.approx(
            krippendorff.alpha(reliability_data=arr, level_of_measurement="nominal"), abs=1e-9
        ), q
        both = ~np.isnan(arr[0]) & ~np.isnan(arr[1])
        pair = RatingMatrix.from_codes(arr[:2, both].T.astype(int), categories=(0, 1))
        if len(np.unique(arr[:2, both])) > 1:
            assert cohen_kappa(pair) == pytest.approx(cohen_kappa_score(arr[0, both], arr[1, both]), abs=1e-9), q
