"""The word (TF-IDF) channel, soft vote-share labels, and the blended model artefact.

All texts here are SYNTHETIC: made-up sentences built from a small word list, with planted signal words.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from pipeline.errors import ModelError
from pipeline.suggest.card import card_markdown
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.estimator import UNKNOWN, CodeSuggester
from pipeline.suggest.labels import HumanDecision, resolve_shares, share_matrix
from pipeline.suggest.lexical import TextCodeSuggester, shape_numbers
from pipeline.suggest.model import LEXICAL_FILE, SuggestionModel
from pipeline.suggest.training import TrainingConfig, train_model
from tests.test_suggest_synthetic import synthetic_codebook

FILLER = "practitioner meeting school family worker discussed plan support visit week team concern".split()
SIGNALS = ("youtube forum channel", "mother father household", "attendance missed lessons")


def synthetic_corpus(n: int = 150, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """(texts, Y) with three codes; code j is applied when its signal phrase is planted (SYNTHETIC)."""
    rng = np.random.default_rng(seed)
    texts, rows = [], []
    for _ in range(n):
        row = (rng.random(3) < 0.35).astype(int)
        words = list(rng.choice(FILLER, size=12))
        for j in np.flatnonzero(row):
            words.insert(int(rng.integers(0, len(words))), SIGNALS[j])
        texts.append(" ".join(words) + f" reference {int(rng.integers(10000, 99999))}.")
        rows.append(row)
    return texts, np.array(rows)


# -- soft labels ---------------------------------------------------------------------------------------
def _d(coder: str, applied: bool, source: str = "review", order: int = 0, unit: str = "u") -> HumanDecision:
    return HumanDecision(unit=unit, code="a", coder=coder, applied=applied, source=source, order=order)


def test_vote_shares_follow_the_documented_rule() -> None:
    assert resolve_shares([_d("x", True), _d("y", False)]) == {("u", "a"): 0.5}
    assert resolve_shares([_d("x", True), _d("y", True), _d("z", False)]) == {("u", "a"): pytest.approx(2 / 3)}
    # One vote per coder (the latest), adjudication wins, model output never counts.
    assert resolve_shares([_d("x", True, order=0), _d("x", False, order=5), _d("y", False)]) == {("u", "a"): 0.0}
    assert resolve_shares([_d("x", True), _d("y", False), _d("lead", True, "adjudication")]) == {("u", "a"): 1.0}
    assert resolve_shares([_d("model:v1", True, "model"), _d("x", False)]) == {("u", "a"): 0.0}
    S = share_matrix(["u", "v"], ["a", "b"], {("u", "a"): 0.5, ("v", "b"): 1.0})
    assert S.tolist() == [[0.5, UNKNOWN], [UNKNOWN, 1.0]]


def test_soft_labels_keep_split_units_near_the_boundary() -> None:
    """A region where coders split 50/50 should get probabilities near 0.5, not be dropped or forced."""
    rng = np.random.default_rng(1)
    X = rng.normal(scale=2.0, size=(400, 2))
    y = np.where(X[:, 0] > 1, 1.0, np.where(X[:, 0] < -1, 0.0, 0.5))  # coders split in the middle band
    model = CodeSuggester(calibration=None).fit(X, y[:, None])
    assert model.learned_.tolist() == [True]
    p = model.predict_code_proba(np.array([[0.0, 0.0], [4.0, 0.0], [-4.0, 0.0]]))[:, 0]
    assert 0.35 < p[0] < 0.65  # the split band sits on the boundary
    assert p[1] > 0.9 and p[2] < 0.1  # the unanimous regions
    hard = CodeSuggester(calibration=None).fit(X[np.abs(X[:, 0]) > 1], y[np.abs(X[:, 0]) > 1, None])
    # Without the split units (ties dropped) the model is far more certain just outside the band.
    assert (
        hard.predict_code_proba(np.array([[1.5, 0.0]]))[0, 0] > model.predict_code_proba(np.array([[1.5, 0.0]]))[0, 0]
    )
    with pytest.raises(ValueError, match="share of coders"):
        CodeSuggester().fit(X, np.full((400, 2), 1.5))


def test_calibration_keeps_both_copies_of_a_split_unit_together() -> None:
    """Regression: a split unit is fitted as a weighted yes and a weighted no. When the two copies fell
    in different calibration folds, the calibrator scored a copy the model had just memorised as the
    opposite label, learned that high scores mean "no", and inverted the probabilities (held-out ROC
    AUC 0.26 on this data; Narrative Frames codes fell below 0.5 the same way)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 384))  # weak signal in many dimensions: easy to memorise
    y = np.where(X[:, 0] > 0.5, 1.0, np.where(X[:, 0] < -0.5, 0.0, 0.5))
    model = CodeSuggester().fit(X, np.column_stack([y, y]))
    held_out = rng.normal(size=(500, 384))
    auc = roc_auc_score(held_out[:, 0] > 0, model.predict_code_proba(held_out)[:, 0])
    assert auc > 0.7
    assert all(est.cv == 3 for est in model.estimators_)  # no fold indices kept in the artefact


def test_sparse_features_are_accepted() -> None:
    from scipy.sparse import csr_matrix

    texts, Y = synthetic_corpus()
    dense = np.array([[t.count(s) for s in SIGNALS] for t in texts], dtype=float)
    model = CodeSuggester().fit(csr_matrix(dense), Y)
    np.testing.assert_allclose(model.predict_code_proba(csr_matrix(dense)), model.predict_code_proba(dense))


# -- the text estimator ---------------------------------------------------------------------------------
def test_text_suggester_learns_words_and_follows_sklearn_conventions() -> None:
    texts, Y = synthetic_corpus()
    estimator = TextCodeSuggester(min_df=2)
    assert estimator.get_params()["C"] == 10.0 and not hasattr(estimator, "vectorizer_")
    with pytest.raises(NotFittedError):
        estimator.predict_code_proba(texts[:2])
    assert estimator.fit(texts[:100], Y[:100]) is estimator
    proba = estimator.predict_code_proba(texts[100:])
    assert proba.shape == (50, 3) and ((proba >= 0) & (proba <= 1)).all()
    assert ((proba >= 0.5) == Y[100:]).mean() > 0.9
    assert estimator.classes_.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(estimator.predict(texts[100:]), (proba >= 0.5).astype(int))
    # clone() gives an unfitted copy with the same parameters.
    twin = clone(estimator)
    assert twin.get_params() == estimator.get_params() and not hasattr(twin, "vectorizer_")
    with pytest.raises(ValueError, match="sequence of strings"):
        TextCodeSuggester().fit([1, 2, 3], Y[:3])


def test_vocabulary_never_holds_numbers_or_one_off_words() -> None:
    """Privacy: identifiers (digits) never become features, nor does a word seen in one unit only."""
    texts, Y = synthetic_corpus()
    texts[0] = texts[0] + " Zebedee"  # a one-off name the anonymiser might have missed (SYNTHETIC)
    estimator = TextCodeSuggester(min_df=2).fit(texts, Y)
    vocabulary = estimator.vectorizer_.vocabulary_
    assert vocabulary and not any(ch.isdigit() for term in vocabulary for ch in term)
    assert "zebedee" not in vocabulary and "attendance" in vocabulary


def test_numbers_become_their_kind_and_never_their_digits() -> None:
    """Money, shares and years keep their signal as marker words; no digit survives (SYNTHETIC text)."""
    shaped = shape_numbers('The council spent £4.5bn (12% more) in 2019 on case 40213, "a record".')
    assert not any(ch.isdigit() for ch in shaped)
    assert shaped.split().count("xxmoney") == 1 and "xxpercent" in shaped and "xxyear" in shaped
    assert "xxnumber" in shaped and shaped.count("xxquote") == 2

    # A code that hinges on sums of money is learnt from the marker, whatever the sums are.
    rng = np.random.default_rng(0)
    texts, rows = [], []
    for _ in range(120):
        applied = rng.random() < 0.4
        amount = f"£{int(rng.integers(1, 999))}m" if applied else "several"
        texts.append(f"{' '.join(rng.choice(FILLER, size=10))} the plan costs {amount} overall")
        rows.append([int(applied)])
    estimator = TextCodeSuggester(min_df=2).fit(texts, np.array(rows))
    assert "xxmoney" in estimator.vectorizer_.vocabulary_
    proba = estimator.predict_code_proba(["the plan costs £12m overall", "the plan costs several overall"])
    assert proba[0, 0] > 0.8 > 0.2 > proba[1, 0]
    plain = TextCodeSuggester(min_df=2, number_shapes=False).fit(texts, np.array(rows))
    assert "xxmoney" not in plain.vectorizer_.vocabulary_


# -- the blended model ----------------------------------------------------------------------------------
def train_on_texts(
    texts: list[str], Y: np.ndarray, config: TrainingConfig
) -> tuple[SuggestionModel, np.ndarray, list[str]]:
    """Train on ``texts`` with embeddings that carry no signal: only the text channels can learn."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(len(texts), 16))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    codebook = synthetic_codebook()
    coldstart = ColdStartScorer(codes=codebook.code_ids, prototypes=X[:3], owner=np.arange(3))
    model = train_model(
        codebook, X, Y, texts=texts, coldstart=coldstart, embedding_model="synthetic-16d", config=config
    )
    return model, X, texts


def _blended(
    tmp_path: Path, lexical: bool = True, counts: bool = True
) -> tuple[SuggestionModel, np.ndarray, list[str]]:
    texts, Y = synthetic_corpus(160)
    return train_on_texts(texts, Y, TrainingConfig(lexical=lexical, counts=counts))


def test_blended_model_round_trips_and_needs_the_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, X, texts = _blended(tmp_path)
    assert model.uses_text and model.text_estimator is not None
    card = model.card["training"]["lexical"]
    assert card["enabled"] and card["vocabulary_size"] > 0 and "vocabulary" not in card
    assert set(card["weights"]) == set(model.codes) and card["weight_rule"].startswith("per code")
    assert card["number_shapes"] is True
    assert "numbers only as markers" in card_markdown(model.card)

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle must not be used for model artefacts")

    monkeypatch.setattr(pickle, "dump", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    folder = model.save(tmp_path / "model")
    assert (folder / LEXICAL_FILE).is_file()
    assert json.loads((folder / "model.json").read_text())["has_lexical"] is True
    loaded = SuggestionModel.load(folder)
    np.testing.assert_allclose(loaded.score(X, texts=texts).proba, model.score(X, texts=texts).proba, rtol=1e-6)
    with pytest.raises(ModelError, match="pass the texts"):
        loaded.score(X)
    with pytest.raises(ModelError, match="2 texts for 160"):
        loaded.score(X, texts=texts[:2])


def test_word_channel_improves_on_signal_free_embeddings(tmp_path: Path) -> None:
    """With embeddings that carry no signal, the blend still separates the codes through the words."""
    blended, _, _ = _blended(tmp_path)
    plain, _, _ = _blended(tmp_path, lexical=False, counts=False)
    assert not plain.uses_text and plain.text_estimator is None
    assert plain.card["training"]["lexical"] in (None, {"enabled": False})
    assert blended.learned_codes == blended.codes
    for code in blended.learned_codes:
        cv = blended.card["codes"][code]["cv"]
        assert cv["apply_precision"] is None or cv["apply_precision"] >= 0.9
    f1_blend = np.mean([blended.card["codes"][c]["cv"]["f1_at_0.5"] for c in blended.learned_codes])
    f1_plain = np.mean([plain.card["codes"][c]["cv"]["f1_at_0.5"] for c in plain.learned_codes] or [0.0])
    assert f1_blend > f1_plain + 0.3


def test_tampered_lexical_file_is_refused(tmp_path: Path) -> None:
    import skops.io as sio

    model, _, _ = _blended(tmp_path)
    folder = model.save(tmp_path / "model")
    sio.dump({"payload": clone(CodeSuggester())}, folder / LEXICAL_FILE)
    with pytest.raises(ModelError, match=r"lexical\.skops"):
        SuggestionModel.load(folder)
    (folder / LEXICAL_FILE).write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable skops file"):
        SuggestionModel.load(folder)


def test_decision_cut_off_counts_split_units_as_fractional_votes() -> None:
    """Kappa against a randomly drawn coder: a 1-of-2 unit is half a yes and half a no."""
    from pipeline.suggest.policy import choose_decision_threshold, choose_thresholds

    proba = np.linspace(0.05, 0.95, 40)
    shares = np.where(proba > 0.7, 1.0, np.where(proba > 0.4, 0.5, 0.0))
    cut, kappa = choose_decision_threshold(shares, proba)
    assert 0.4 < cut < 0.7 and kappa is not None and 0 < kappa < 1
    # Majority labels drop the split units; the cut-off tuned on shares is then passed through.
    known = (shares == 0) | (shares == 1)
    report = choose_thresholds(
        shares[known].astype(int),
        proba[known],
        target_precision=0.9,
        review_floor=0.15,
        decision_votes=(shares, proba),
    )
    assert report.thresholds.decision == cut and report.kappa_at_decision == kappa


def test_blend_weight_is_chosen_per_code_from_out_of_fold_scores() -> None:
    from pipeline.suggest.training import choose_lexical_weights

    rng = np.random.default_rng(3)
    y = (rng.random((200, 2)) < 0.4).astype(float)
    informative = np.clip(0.1 + 0.8 * y + rng.normal(scale=0.05, size=y.shape), 0.01, 0.99)
    noise = rng.uniform(0.2, 0.6, size=y.shape)
    # Code 0: the words know, the embeddings do not; code 1: the other way round.
    oof_embedding = np.column_stack([noise[:, 0], informative[:, 1]])
    oof_text = np.column_stack([informative[:, 0], noise[:, 1]])
    y[:5, 1] = UNKNOWN  # unknown labels are left out
    weights = choose_lexical_weights(y, oof_embedding, oof_text, None)
    assert weights.tolist() == [1.0, 0.0]
    assert choose_lexical_weights(y, oof_embedding, oof_text, 0.3).tolist() == [0.3, 0.3]
