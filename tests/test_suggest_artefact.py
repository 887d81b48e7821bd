"""Model artefacts: skops round trip without pickle, explicit trusted types, model card contents.

Synthetic vectors only (random unit vectors standing in for embeddings; no embedder is loaded).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator

from pipeline.errors import ModelError
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.estimator import CodeSuggester
from pipeline.suggest.model import ESTIMATOR_FILE, SuggestionModel
from pipeline.suggest.training import TrainingConfig, train_model
from tests.test_suggest_synthetic import synthetic_codebook


def _trained(
    tmp_path: Path, groups: np.ndarray | None = None, config: TrainingConfig | None = None
) -> tuple[SuggestionModel, np.ndarray]:
    codebook = synthetic_codebook()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32))
    truth = rng.integers(0, 3, 150)
    X = centres[truth] + rng.normal(scale=0.6, size=(150, 32))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y = (truth[:, None] == np.arange(3)[None, :]).astype(int)
    Y[:40, 2] = 0
    Y[:, 2] = np.where(np.arange(150) < 145, 0, Y[:, 2])  # code 3: too few positives -> cold start
    protos = np.vstack([centres, centres])
    coldstart = ColdStartScorer(codes=codebook.code_ids, prototypes=protos, owner=np.array([0, 1, 2, 0, 1, 2]))
    model = train_model(
        codebook, X, Y, coldstart=coldstart, embedding_model="synthetic-32d", groups=groups,
        config=config or TrainingConfig(),
    )
    return model, X


def test_round_trip_without_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, X = _trained(tmp_path)

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle must not be used for model artefacts")

    monkeypatch.setattr(pickle, "dump", no_pickle)
    monkeypatch.setattr(pickle, "dumps", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    folder = model.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "card.json",
        "card.md",
        "coldstart.npz",
        "estimator.skops",
        "model.json",
    ]
    loaded = SuggestionModel.load(folder)
    # Three codes are too few to share subspaces (tests/test_suggest_subspace.py has a format /3 model).
    assert json.loads((folder / "model.json").read_text())["format"] == "qualcode-suggest/1"
    assert type(loaded.estimator) is CodeSuggester
    assert loaded.version == model.version
    assert loaded.learned_codes == model.learned_codes == ["online_radicalisation", "family_engagement"]
    a, b = model.score(X), loaded.score(X)
    np.testing.assert_allclose(a.proba, b.proba, rtol=1e-6)
    assert (model.decide(a) == loaded.decide(b)).all()
    assert b.cold_start.tolist() == [False, False, True]
    # Stale codes fall back to cold start.
    assert loaded.score(X, stale_codes={"family_engagement"}).cold_start.tolist() == [False, True, True]


def test_model_card(tmp_path: Path) -> None:
    model, _ = _trained(tmp_path)
    folder = model.save(tmp_path / "model")
    card = json.loads((folder / "card.json").read_text())
    assert card["codebook"]["content_hash"] == synthetic_codebook().content_hash
    assert card["embedding_model"] == "synthetic-32d"
    assert card["training"]["n_units"] == 150
    entry = card["codes"]["online_radicalisation"]
    assert entry["mode"] == "model" and entry["n_positive"] > 10
    assert entry["cv"]["apply_precision"] >= 0.9
    assert card["codes"]["training_gaps"]["mode"] == "cold_start"
    markdown = (folder / "card.md").read_text()
    assert "online_radicalisation" in markdown and model.version in markdown


def test_one_cv_group_keeps_every_code_in_cold_start(tmp_path: Path) -> None:
    """Regression: every labelled segment from one interview (one CV group) crashed training; with no
    honest out-of-fold scores no threshold can be tuned, so nothing is auto-applied yet."""
    model, X = _trained(tmp_path, groups=np.zeros(150, dtype=int))
    assert model.estimator is None and model.learned_codes == []
    assert model.card["training"]["cv"]["n_groups"] == 1
    assert all(entry["mode"] == "cold_start" for entry in model.card["codes"].values())
    assert "apply" not in set(model.decide(model.score(X)).ravel())
    # A second group is enough for grouped cross-validation and trained codes.
    two, _ = _trained(tmp_path, groups=np.arange(150) % 2)
    assert two.learned_codes == ["online_radicalisation", "family_engagement"]
    assert two.card["training"]["cv"]["n_groups"] == 2


class _Sneaky(BaseEstimator):
    """Stands in for an unexpected type inside a tampered artefact."""


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    model, _ = _trained(tmp_path)
    folder = model.save(tmp_path / "model")
    sio.dump(_Sneaky(), folder / ESTIMATOR_FILE)
    with pytest.raises(ModelError, match="untrusted types"):
        SuggestionModel.load(folder)
    (folder / ESTIMATOR_FILE).write_bytes(b"garbage")
    with pytest.raises(ModelError, match=r"estimator\.skops"):
        SuggestionModel.load(folder)
    with pytest.raises(ModelError, match=r"no model\.json"):
        SuggestionModel.load(tmp_path)
