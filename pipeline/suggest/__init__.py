"""Code suggestions: a calibrated multi-label classifier on segment embeddings blended with word features,
cold start from the codebook text, a per-code apply / review / drop policy, and skops model artefacts with a
model card.

Modules (each small, each with its reasons in its docstring):

- ``estimator``  the scikit-learn ``CodeSuggester`` (one calibrated model per code, masked and soft labels)
- ``lexical``    ``TextCodeSuggester``: the same classifier on TF-IDF word features, blended with the first
- ``counts``     ``CountCodeSuggester``: the same classifier on how often a unit mentions sums, percentages, ...
- ``coldstart``  similarity to the codebook's definitions, include rules and examples
- ``policy``     per-code thresholds chosen on cross-validated predictions; the decision policy
- ``labels``     training labels (majority) and vote shares from human decisions; the conflict rule
- ``examples``   reading the ``unit_id,text,code,coder,applied`` interchange CSV
- ``training``   fitting, threshold selection and the model card
- ``model``      the artefact bundle (skops + JSON + npz) and its loading rules
- ``priority``   review order (active learning) and near-duplicate groups
- ``files``      database-free train / suggest (``qualcode train`` / ``qualcode suggest``)
- ``service``    database functions: import examples, suggest for segments, retrain, re-score
"""

from pipeline.suggest.estimator import UNKNOWN, CodeSuggester
from pipeline.suggest.model import SuggestionModel, cold_start_model
from pipeline.suggest.policy import CodeThresholds, DecisionPolicy, choose_thresholds
from pipeline.suggest.service import (
    ImportStats,
    SuggestStats,
    embed_labelled_segments,
    embeddings_changed,
    new_decisions_since_active_model,
    rescore_queued,
    retrain,
    should_retrain,
    store_examples,
    suggest_for_segments,
)
from pipeline.suggest.training import TrainingConfig, train_model

__all__ = [
    "UNKNOWN",
    "CodeSuggester",
    "CodeThresholds",
    "DecisionPolicy",
    "ImportStats",
    "SuggestStats",
    "SuggestionModel",
    "TrainingConfig",
    "choose_thresholds",
    "cold_start_model",
    "embed_labelled_segments",
    "embeddings_changed",
    "new_decisions_since_active_model",
    "rescore_queued",
    "retrain",
    "should_retrain",
    "store_examples",
    "suggest_for_segments",
    "train_model",
]
