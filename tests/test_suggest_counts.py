"""The counts channel: marker counts as features, its estimator's contract, and the three-channel blend.

All texts here are SYNTHETIC: made-up sentences built from a small word list.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from pipeline.errors import ModelError
from pipeline.suggest.card import card_markdown
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.counts import FEATURE_NAMES, CountCodeSuggester, count_features
from pipeline.suggest.estimator import UNKNOWN, CodeSuggester
from pipeline.suggest.model import COUNTS_FILE, SuggestionModel, blend
from pipeline.suggest.training import TrainingConfig, choose_channel_weights, train_model
from tests.test_suggest_lexical import train_on_texts
from tests.test_suggest_synthetic import synthetic_codebook

FILLER = "practitioner meeting school family worker discussed plan support visit week team concern".split()
SUMS = ("£12m", "$4.5bn", "billions of dollars", "25 cents", "a billion-dollar scheme", "£300", "16.3tn")


def money_corpus(n: int = 160, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """(texts, Y) with three codes (SYNTHETIC).

    Code 0 is applied when a text mentions three or more sums of money; every text mentions some (0-5),
    and the same words surround them, so only *how many* tells the code. Codes 1 and 2 are noise.
    """
    rng = np.random.default_rng(seed)
    texts, rows = [], []
    for _ in range(n):
        k = int(rng.integers(0, 6))
        words = list(rng.choice(FILLER, size=14))
        for s in rng.choice(SUMS, size=k):
            words.insert(int(rng.integers(0, len(words))), f"costs {s}")
        texts.append(" ".join(words) + ".")
        rows.append([int(k >= 3), int(rng.random() < 0.4), int(rng.random() < 0.4)])
    return texts, np.array(rows)


def test_count_features_count_each_kind_and_keep_no_digits() -> None:
    features = count_features(
        ['It cost £4bn, then "billions of dollars", 12% more in 2019, said 3 people, and 25 cents each.', "plain"]
    )
    assert features.shape == (2, len(FEATURE_NAMES))
    counts = dict(zip(FEATURE_NAMES, np.expm1(features[0]).round().astype(int).tolist(), strict=True))
    assert counts["log1p_money"] == 3  # £4bn, billions of dollars, 25 cents
    assert counts["log1p_percent"] == 1 and counts["log1p_year"] == 1 and counts["log1p_number"] == 1
    assert counts["log1p_quote"] == 2
    assert (features[1, :-1] == 0).all() and features[1, -1] == pytest.approx(np.log1p(1))


def test_placeholders_count_as_placeholders_not_numbers() -> None:
    """Anonymised text: ``[PERSON_7]`` is one redaction, not a number and three words."""
    features = count_features(["I spoke to [PERSON_7] and [PERSON_12] at [LOCATION_3] on [DATE_2]."])
    counts = dict(zip(FEATURE_NAMES, np.expm1(features[0]).round().astype(int).tolist(), strict=True))
    assert counts["log1p_placeholder"] == 4 and counts["log1p_number"] == 0 and counts["log1p_year"] == 0
    assert counts["log_tokens"] == 11  # "I spoke to x and x at x on x ." with one token per placeholder


def test_count_suggester_follows_sklearn_conventions() -> None:
    texts, Y = money_corpus()
    estimator = CountCodeSuggester()
    assert estimator.get_params()["C"] == 0.1 and not hasattr(estimator, "codes_")
    with pytest.raises(NotFittedError):
        estimator.predict_code_proba(texts[:2])
    assert estimator.fit(texts[:120], Y[:120]) is estimator
    proba = estimator.predict_code_proba(texts[120:])
    assert proba.shape == (40, 3) and ((proba >= 0) & (proba <= 1)).all()
    assert ((proba[:, 0] >= 0.5) == Y[120:, 0]).mean() > 0.9
    assert estimator.classes_.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(estimator.predict(texts[120:]), (proba >= 0.5).astype(int))
    # The fitted state is the standardisation and the per-code models: six numbers each, no text.
    assert estimator.mean_.shape == estimator.scale_.shape == (len(FEATURE_NAMES),)
    twin = clone(estimator)
    assert twin.get_params() == estimator.get_params() and not hasattr(twin, "mean_")
    with pytest.raises(ValueError, match="sequence of strings"):
        CountCodeSuggester().fit([1, 2, 3], Y[:3])


def test_a_fitted_channel_scores_the_features_it_was_fitted_on_by_name() -> None:
    """A later version may compute more features; a model keeps its own, or says it cannot."""
    texts, Y = money_corpus()
    estimator = CountCodeSuggester().fit(texts, Y)
    assert estimator.feature_names_ == list(FEATURE_NAMES)
    full = estimator._transform(texts[:5])
    # As if fitted by an older version that lacked one feature: the other columns, in its own order.
    keep = [i for i, name in enumerate(FEATURE_NAMES) if name != "log1p_placeholder"]
    estimator.feature_names_ = [FEATURE_NAMES[i] for i in keep]
    estimator.mean_, estimator.scale_ = estimator.mean_[keep], estimator.scale_[keep]
    np.testing.assert_allclose(estimator._transform(texts[:5]), full[:, keep])
    estimator.feature_names_ = [*estimator.feature_names_[:-1], "log1p_gone"]
    with pytest.raises(ModelError, match=r"log1p_gone\); retrain"):
        estimator.predict_code_proba(texts[:5])


def test_blend_gives_each_channel_its_share() -> None:
    emb, words, counts = np.full((2, 2), 0.2), np.full((2, 2), 0.6), np.full((2, 2), 1.0)
    np.testing.assert_allclose(
        blend(emb, words, np.array([0.5, 0.0]), counts, np.array([0.25, 1.0])),
        [[0.6, 1.0]] * 2,  # 0.25 x 0.2 + 0.5 x 0.6 + 0.25 x 1.0
    )
    np.testing.assert_allclose(blend(emb, None, None, counts, 0.5), np.full((2, 2), 0.6))
    np.testing.assert_allclose(blend(emb, words, 0.5), np.full((2, 2), 0.4))
    # A channel with no share adds nothing, even where it has no score.
    holes = counts.copy()
    holes[0, 0] = np.nan
    assert np.isfinite(blend(emb, words, 0.5, holes, np.array([0.0, 0.5]))).all()


def test_channel_weights_go_to_the_channel_that_predicts_each_code() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random((300, 3)) < 0.4).astype(float)
    informative = np.clip(0.1 + 0.8 * y + rng.normal(scale=0.05, size=y.shape), 0.01, 0.99)
    noise = rng.uniform(0.2, 0.6, size=y.shape)
    # Code 0: the counts know; code 1: the words; code 2: the embeddings.
    oof_embedding = np.column_stack([noise[:, 0], noise[:, 1], informative[:, 2]])
    oof_text = np.column_stack([noise[:, 0], informative[:, 1], noise[:, 2]])
    oof_counts = np.column_stack([informative[:, 0], noise[:, 1], noise[:, 2]])
    y[:5, 0] = UNKNOWN
    words, counts = choose_channel_weights(y, oof_embedding, oof_text, oof_counts, None)
    assert words is not None and counts is not None
    assert words.tolist() == [0.0, 1.0, 0.0] and counts.tolist() == [1.0, 0.0, 0.0]
    # A pinned word share leaves the counts the rest at most; without words the counts still get chosen.
    words, counts = choose_channel_weights(y, oof_embedding, oof_text, oof_counts, 0.25)
    assert words is not None and counts is not None
    assert words.tolist() == [0.25] * 3 and (words + counts <= 1).all() and counts[0] == 0.75
    words, counts = choose_channel_weights(y, oof_embedding, None, oof_counts, None)
    assert words is None and counts is not None and counts[0] == 1.0


def _money_model(
    counts: bool = True, lexical: bool = True, subspace: bool = True
) -> tuple[SuggestionModel, np.ndarray, list[str]]:
    texts, Y = money_corpus()
    return train_on_texts(texts, Y, TrainingConfig(counts=counts, lexical=lexical, subspace=subspace))


def test_counts_channel_learns_how_often_sums_are_mentioned(tmp_path: Path) -> None:
    """Embeddings without signal, no word channel: the counts alone tell code 0 (three or more sums)."""
    model, _, _ = _money_model(lexical=False)
    plain, _, _ = _money_model(counts=False, lexical=False)
    code = model.codes[0]
    assert model.count_weights is not None and model.count_weights[0] >= 0.5
    assert model.card["codes"][code]["cv"]["f1_at_0.5"] > plain.card["codes"][code]["cv"]["f1_at_0.5"] + 0.2
    assert plain.count_estimator is None and plain.card["training"]["counts"] == {"enabled": False}
    card = model.card["training"]["counts"]
    assert card["enabled"] and card["features"] == list(FEATURE_NAMES) and set(card["weights"]) == set(model.codes)
    markdown = card_markdown(model.card)
    assert "Counts channel" in markdown and "| counts |" in markdown
    assert "Counts channel" not in card_markdown(plain.card)


def test_counts_model_round_trips_without_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, X, texts = _money_model()

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle must not be used for model artefacts")

    monkeypatch.setattr(pickle, "dump", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    folder = model.save(tmp_path / "model")
    meta = json.loads((folder / "model.json").read_text())
    assert (folder / COUNTS_FILE).is_file() and meta["has_counts"] is True and len(meta["count_weights"]) == 3
    loaded = SuggestionModel.load(folder)
    np.testing.assert_allclose(loaded.score(X, texts=texts).proba, model.score(X, texts=texts).proba, rtol=1e-6)
    with pytest.raises(ModelError, match="pass the texts"):
        loaded.score(X)


def test_a_pinned_word_share_decides_whether_counts_are_fitted() -> None:
    texts, Y = money_corpus(80)
    X = np.random.default_rng(1).normal(size=(len(texts), 8))
    codebook = synthetic_codebook()
    coldstart = ColdStartScorer(codes=codebook.code_ids, prototypes=X[:3], owner=np.arange(3))

    def fit(**config: object) -> SuggestionModel:
        return train_model(
            codebook, X, Y, texts=texts, coldstart=coldstart, embedding_model="t", config=TrainingConfig(**config)
        )

    assert fit(lexical_weight=0.9).count_estimator is None  # no room left on the weight grid
    assert fit(lexical_weight=0.75).count_estimator is not None
    off = fit(lexical=False, lexical_weight=1.0)  # words off: the pinned share is moot
    assert off.text_estimator is None and off.count_estimator is not None


def test_models_saved_before_the_counts_channel_still_load(tmp_path: Path) -> None:
    model, X, texts = _money_model(subspace=False)  # as models were before shared subspaces
    folder = model.save(tmp_path / "model")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["format"] == "qualcode-suggest/2"  # older readers would ignore the counts: refuse them
    meta["format"] = "qualcode-suggest/1"
    for key in ("has_counts", "count_weights"):
        del meta[key]
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / COUNTS_FILE).unlink()
    loaded = SuggestionModel.load(folder)
    assert loaded.count_estimator is None and loaded.count_weights is None
    assert loaded.score(X, texts=texts).proba.shape == (len(texts), 3)


def test_tampered_or_inconsistent_counts_files_are_refused(tmp_path: Path) -> None:
    model, _, _ = _money_model()
    folder = model.save(tmp_path / "model")
    sio.dump({"payload": clone(CodeSuggester())}, folder / COUNTS_FILE)
    with pytest.raises(ModelError, match=r"counts\.skops"):
        SuggestionModel.load(folder)
    folder = model.save(tmp_path / "model2")
    meta = json.loads((folder / "model.json").read_text())
    meta["lexical_weights"], meta["count_weights"] = [0.75] * 3, [0.5] * 3
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="exceed 1"):
        SuggestionModel.load(folder)
