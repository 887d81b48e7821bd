"""Per-code/theme reports, the codings CSV reader, exports and the ``qualcode agreement`` command.

All data here is SYNTHETIC (made up for the tests): unit ids, coders and a two-theme codebook.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from pipeline.agreement.codings_csv import read_codings_csv
from pipeline.agreement.export import render, to_html
from pipeline.agreement.metrics import krippendorff_alpha
from pipeline.agreement.report import Decision, ReportOptions, agreement_report, status_of
from pipeline.cli import app
from pipeline.codebook import codebook_from_data
from pipeline.errors import ExamplesError

SYNTHETIC_CODEBOOK = {
    "format": "qualcode-codebook/1",
    "name": "Synthetic test codebook",
    "version": "0.1",
    "description": "Synthetic codebook for agreement tests.",
    "themes": [
        {
            "id": "risk",
            "name": "Risk",
            "description": "Synthetic theme.",
            "codes": [
                {"id": "online_risk", "name": "Online risk", "definition": "Synthetic code."},
                {"id": "family_risk", "name": "Family risk", "definition": "Synthetic code."},
            ],
        },
        {
            "id": "practice",
            "name": "Practice",
            "description": "Synthetic theme.",
            "codes": [{"id": "referral", "name": "Referral", "definition": "Synthetic code."}],
        },
    ],
}


@pytest.fixture(scope="module")
def codebook():  # type: ignore[no-untyped-def]
    return codebook_from_data(SYNTHETIC_CODEBOOK)


def synthetic_decisions(n_units: int = 120, seed: int = 0) -> list[Decision]:
    """Three coders; two agree closely on online_risk, family_risk is noisier, referral is rare."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(n_units):
        truth = {"online_risk": rng.random() < 0.4, "family_risk": rng.random() < 0.5, "referral": rng.random() < 0.05}
        flip = {"online_risk": 0.05, "family_risk": 0.3, "referral": 0.02}
        for coder in ("ann", "bob", "cat"):
            if coder == "cat" and u % 3:
                continue  # cat double-codes only a third of the units
            for code, value in truth.items():
                noisy = value ^ (rng.random() < flip[code])
                out.append(Decision(f"u{u}", code, coder, int(noisy)))
    return out


def _by(records, scope, key):  # type: ignore[no-untyped-def]
    (rec,) = [r for r in records if r.scope == scope and r.key == key]
    return rec


def test_report_has_code_theme_overall_and_pair_rows(codebook) -> None:  # type: ignore[no-untyped-def]
    records = agreement_report(synthetic_decisions(), codebook, ReportOptions(n_boot=200))
    scopes = {(r.scope, r.key) for r in records}
    assert {("code", "online_risk"), ("code", "family_risk"), ("code", "referral")} <= scopes
    assert {("theme", "risk"), ("theme", "practice"), ("overall", "all")} <= scopes
    assert ("pair", "online_risk:ann|bob") in scopes and ("pair", "online_risk:bob|cat") in scopes
    online, family = _by(records, "code", "online_risk"), _by(records, "code", "family_risk")
    assert online.metric() > family.metric()  # type: ignore[operator]
    assert online.n_units == 120 and online.n_coders == 3
    assert online.estimates["cohen_kappa"].value is None  # three coders
    assert "exactly two" in (online.estimates["cohen_kappa"].reason or "")
    pair = _by(records, "pair", "online_risk:ann|bob")
    assert pair.estimates["cohen_kappa"].value is not None
    theme = _by(records, "theme", "risk")
    assert theme.n_units == 240  # every (unit, code) pair of the theme's two codes
    assert theme.theme_name == "Risk"


def test_theme_rollup_equals_alpha_over_unit_code_pairs(codebook) -> None:  # type: ignore[no-untyped-def]
    decisions = synthetic_decisions(60, seed=4)
    records = agreement_report(decisions, codebook, ReportOptions(n_boot=0))
    rows = [((d.unit_id, d.code), d.coder, d.value) for d in decisions if d.code in ("online_risk", "family_risk")]
    from pipeline.agreement.metrics import RatingMatrix

    expected = krippendorff_alpha(RatingMatrix.from_records(rows, categories=(0, 1)))
    assert _by(records, "theme", "risk").metric() == pytest.approx(expected)


def test_pairwise_kappa_matches_sklearn(codebook) -> None:  # type: ignore[no-untyped-def]
    decisions = synthetic_decisions(90, seed=2)
    records = agreement_report(decisions, codebook, ReportOptions(n_boot=0))
    ann = {d.unit_id: d.value for d in decisions if d.code == "family_risk" and d.coder == "ann"}
    bob = {d.unit_id: d.value for d in decisions if d.code == "family_risk" and d.coder == "bob"}
    units = sorted(ann)
    expected = cohen_kappa_score([ann[u] for u in units], [bob[u] for u in units])
    assert _by(records, "pair", "family_risk:ann|bob").estimates["cohen_kappa"].value == pytest.approx(expected)


def test_ignore_absent_drops_units_nobody_applied(codebook) -> None:  # type: ignore[no-untyped-def]
    decisions = synthetic_decisions(200, seed=3)
    full = _by(agreement_report(decisions, codebook, ReportOptions(n_boot=0)), "code", "referral")
    rare = _by(agreement_report(decisions, codebook, ReportOptions(n_boot=0, ignore_absent=True)), "code", "referral")
    applied_units = {d.unit_id for d in decisions if d.code == "referral" and d.value == 1}
    assert rare.n_units == len(applied_units) < full.n_units
    assert full.estimates["percent_agreement"].value > rare.estimates["percent_agreement"].value  # type: ignore[operator]


def test_rare_code_that_nobody_applied_reports_reasons() -> None:
    decisions = [Decision(f"u{i}", "referral", c, 0) for i in range(10) for c in ("ann", "bob")]
    (rec,) = agreement_report(decisions, None, ReportOptions(n_boot=50))
    assert rec.status == "not_computable"
    flat = rec.to_flat()
    assert flat["krippendorff_alpha"] is None and "same category" in flat["krippendorff_alpha_reason"]
    assert flat["gwet_ac1"] == 1.0 and flat["percent_agreement"] == 1.0


def test_status_thresholds() -> None:
    assert status_of(0.85, 0.8, 0.667) == "reliable"
    assert status_of(0.7, 0.8, 0.667) == "tentative"
    assert status_of(0.2, 0.8, 0.667) == "unreliable"
    assert status_of(None, 0.8, 0.667) == "not_computable"


# --- the CSV reader ------------------------------------------------------------------------------------
def _write(tmp_path: Path, text: str, name: str = "codings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_codings_applied_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "unit_id,code,coder,applied\nu1,c,ann,yes\nu1,c,bob,0\nu2,c,ann,\nu2,c,bob,TRUE\n")
    decisions = read_codings_csv(path)
    assert [(d.unit_id, d.coder, d.value) for d in decisions] == [("u1", "ann", 1), ("u1", "bob", 0), ("u2", "bob", 1)]
    path = _write(tmp_path, "unit_id,code,coder,value\nu1,tone,ann,3\nu1,tone,bob,4\nu2,tone,ann,neutral\n", "v.csv")
    assert [d.value for d in read_codings_csv(path)] == [3, 4, "neutral"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unit,code,coder,applied\nu1,c,a,1\n", "missing column(s) unit_id"),
        ("unit_id,code,coder\nu1,c,a\n", "exactly one of the columns"),
        ("unit_id,code,coder,applied\nu1,c,a,maybe\n", "row 2: applied must be 1/0"),
        ("unit_id,code,coder,applied\nu1,c,a,1\nu1,,b,1\n", "row 3: empty code"),
        ("unit_id,code,coder,applied\nu1,c,a,1\nu1,c,a,0\n", "row 3: coder 'a' gives a different answer"),
        ("unit_id,code,coder,applied\nu1,c,a,1,extra\n", "row 2: more cells than header columns"),
        ("unit_id,code,coder,applied\n", "no decisions"),
    ],
)
def test_read_codings_errors_name_file_and_row(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ExamplesError) as info:
        read_codings_csv(_write(tmp_path, text))
    assert "codings.csv" in str(info.value) and message in str(info.value)


def test_read_codings_unknown_code(tmp_path: Path) -> None:
    path = _write(tmp_path, "unit_id,code,coder,applied\nu1,online_risk,a,1\nu1,nope,a,1\n")
    with pytest.raises(ExamplesError, match=r"codings.csv, row 3: code 'nope' is not in the codebook"):
        read_codings_csv(path, known_codes={"online_risk"})


# --- exports ------------------------------------------------------------------------------------------
def test_exports_round_trip(codebook) -> None:  # type: ignore[no-untyped-def]
    options = ReportOptions(n_boot=100, seed=3)
    records = agreement_report(synthetic_decisions(40), codebook, options)
    payload = json.loads(render(records, options, "json", {"source": "synthetic"}))
    assert payload["meta"]["options"]["n_boot"] == 100 and "bootstrap" in payload["meta"]["methods"]
    assert len(payload["records"]) == len(records)
    rows = list(csv.DictReader(io.StringIO(render(records, options, "csv"))))
    assert len(rows) == len(records)
    assert {"n_units", "n_coders", "krippendorff_alpha_ci_low", "gwet_ac1_reason"} <= set(rows[0])


def test_html_is_self_contained_and_colour_coded(codebook) -> None:  # type: ignore[no-untyped-def]
    options = ReportOptions(n_boot=100)
    records = agreement_report(synthetic_decisions(80), codebook, options)
    html = to_html(records, options, {"source": "synthetic.csv"}, {"online_risk": "Online risk"})
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "Methods" in html and "100 resamples" in html and "seed 0" in html
    assert 'class="ok"' in html or 'class="warn"' in html or 'class="bad"' in html
    assert "Online risk" in html and "Risk" in html
    assert '<td class="na" title="Cohen' in html  # not computable cells carry their reason


# --- the command ----------------------------------------------------------------------------------------
def _codings_file(tmp_path: Path) -> Path:
    lines = ["unit_id,code,coder,applied"]
    for d in synthetic_decisions(50):
        lines.append(f"{d.unit_id},{d.code},{d.coder},{d.value}")
    return _write(tmp_path, "\n".join(lines) + "\n")


def _codebook_file(tmp_path: Path) -> Path:
    from pipeline.codebook import dumps_codebook

    path = tmp_path / "codebook.yaml"
    path.write_text(dumps_codebook(codebook_from_data(SYNTHETIC_CODEBOOK)), encoding="utf-8")
    return path


def test_cli_json_with_codebook(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "agreement",
            "--codings",
            str(_codings_file(tmp_path)),
            "--codebook",
            str(_codebook_file(tmp_path)),
            "--bootstrap",
            "100",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    keys = {(r["scope"], r["key"]) for r in payload["records"]}
    assert ("theme", "risk") in keys and ("code", "referral") in keys


def test_cli_html_and_csv_to_file(tmp_path: Path) -> None:
    codings = _codings_file(tmp_path)
    for fmt in ("html", "csv"):
        out = tmp_path / f"report.{fmt}"
        result = CliRunner().invoke(
            app, ["agreement", "--codings", str(codings), "--format", fmt, "--output", str(out), "--bootstrap", "50"]
        )
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 500


def test_cli_errors(tmp_path: Path) -> None:
    bad = _write(tmp_path, "unit_id,code,coder,applied\nu1,c,a,2\n", "bad.csv")
    result = CliRunner().invoke(app, ["agreement", "--codings", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ExamplesError) and "bad.csv, row 2" in str(result.exception)
    result = CliRunner().invoke(app, ["agreement"])
    assert result.exit_code != 0 and "exactly one of --codings" in result.output
