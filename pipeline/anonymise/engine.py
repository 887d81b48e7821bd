"""Presidio analyzer engines: qualcode's, and the out-of-the-box baseline it is measured against.

Why build the engines here: Presidio's defaults would download a spaCy model and the Public Suffix List
on first use. Both engines share one spaCy pipeline loaded from its installed package (see
``offline.py``), so building the baseline next to ours for a benchmark costs no second model load.
"""

from __future__ import annotations

from functools import lru_cache

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

from pipeline.anonymise.gazetteers import load_gazetteers
from pipeline.anonymise.offline import load_spacy_model, make_tldextract_offline
from pipeline.anonymise.recognizers import default_recognizers

#: Presidio's own default NER configuration (``conf/default.yaml``), used for the baseline.
PRESIDIO_DEFAULT_NER = NerModelConfiguration(
    model_to_presidio_entity_mapping={
        "PER": "PERSON",
        "PERSON": "PERSON",
        "NORP": "NRP",
        "FAC": "LOCATION",
        "LOC": "LOCATION",
        "GPE": "LOCATION",
        "LOCATION": "LOCATION",
        "ORG": "ORGANIZATION",
        "ORGANIZATION": "ORGANIZATION",
        "DATE": "DATE_TIME",
        "TIME": "DATE_TIME",
    },
    low_confidence_score_multiplier=0.4,
    low_score_entity_names=[],
    labels_to_ignore=[
        "ORGANIZATION",
        "CARDINAL",
        "EVENT",
        "LANGUAGE",
        "LAW",
        "MONEY",
        "ORDINAL",
        "PERCENT",
        "PRODUCT",
        "QUANTITY",
        "WORK_OF_ART",
    ],
)

#: qualcode's mapping: organisations are kept (local teams identify), nationalities are not reported.
QUALCODE_NER = NerModelConfiguration(
    model_to_presidio_entity_mapping={
        "PERSON": "PERSON",
        "FAC": "LOCATION",
        "LOC": "LOCATION",
        "GPE": "LOCATION",
        "ORG": "ORGANIZATION",
        "DATE": "DATE_TIME",
        "TIME": "DATE_TIME",
    },
    labels_to_ignore=[
        "CARDINAL",
        "EVENT",
        "LANGUAGE",
        "LAW",
        "MONEY",
        "ORDINAL",
        "PERCENT",
        "PRODUCT",
        "QUANTITY",
        "WORK_OF_ART",
        "NORP",
    ],
)


class PackagedSpacyNlpEngine(SpacyNlpEngine):
    """``SpacyNlpEngine`` that loads its pipeline from the installed package and never downloads."""

    def __init__(
        self, model_name: str, ner_model_configuration: NerModelConfiguration, *, full_pipeline: bool = False
    ) -> None:
        super().__init__(
            models=[{"lang_code": "en", "model_name": model_name}], ner_model_configuration=ner_model_configuration
        )
        self.full_pipeline = full_pipeline

    def load(self) -> None:
        name = self.models[0]["model_name"]
        self.nlp = {"en": load_spacy_model(name, disable_unused=not self.full_pipeline)}


class NoContextEnhancer(ContextAwareEnhancer):
    """Presidio's context step switched off: qualcode's recognisers read their context themselves.

    Why: the default enhancer needs spaCy lemmas (two extra pipeline components) and deep-copies every
    result; our recognisers either validate (checksums, phonenumbers) or look at the words before a match.
    """

    def __init__(self) -> None:
        super().__init__(
            context_similarity_factor=0.0,
            min_score_with_context_similarity=0.0,
            context_prefix_count=0,
            context_suffix_count=0,
        )

    def enhance_using_context(  # type: ignore[override]
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: object,
        recognizers: object,
        context: object = None,
    ) -> list[RecognizerResult]:
        return raw_results


def build_analyzer(model_name: str) -> AnalyzerEngine:
    """qualcode's analyzer: our recognisers only (no US/AU/IN patterns that cost time and add noise)."""
    make_tldextract_offline()
    nlp_engine = PackagedSpacyNlpEngine(model_name, QUALCODE_NER)
    nlp_engine.load()
    registry = RecognizerRegistry(recognizers=default_recognizers(load_gazetteers()), supported_languages=["en"])
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        context_aware_enhancer=NoContextEnhancer(),
    )


@lru_cache(maxsize=2)
def build_baseline_analyzer(model_name: str) -> AnalyzerEngine:
    """Out-of-the-box Presidio (default registry and NER mapping) on the same spaCy model, offline."""
    make_tldextract_offline()
    # The full spaCy pipeline (parser included), as Presidio would load it.
    nlp_engine = PackagedSpacyNlpEngine(model_name, PRESIDIO_DEFAULT_NER, full_pipeline=True)
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
