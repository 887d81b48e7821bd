"""Presidio recognisers for UK research interviews (detection only; ``pipeline.anonymise.anonymiser``
decides what replaces what)."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import IpRecognizer

from pipeline.anonymise.gazetteers import Gazetteers
from pipeline.anonymise.recognizers.candidates import RecallFirstRecognizer
from pipeline.anonymise.recognizers.ner import InterviewSpacyRecognizer
from pipeline.anonymise.recognizers.patterns import (
    AgeRecognizer,
    AnyEmailRecognizer,
    CaseReferenceRecognizer,
    DurationRecognizer,
    LineLabelRecognizer,
    NationalInsuranceRecognizer,
    NhsNumberRecognizer,
    OfflineEmailRecognizer,
    PostcodeRecognizer,
    SaintNameRecognizer,
    SocialHandleRecognizer,
    SpecificDateRecognizer,
    TitledNamePatternRecognizer,
    UkPhoneRecognizer,
    VoiceTagRecognizer,
    WebAddressRecognizer,
    nhs_checksum_ok,
)
from pipeline.anonymise.recognizers.spoken import spoken_recognizers
from pipeline.anonymise.recognizers.structure import structure_recognizers
from pipeline.anonymise.recognizers.tokens import (
    ContextNameRecognizer,
    FirstNameRecognizer,
    InitialsRecognizer,
    PlaceGazetteerRecognizer,
    PlaceOfWorshipRecognizer,
    SchoolRecognizer,
    StreetAddressRecognizer,
    TitleNameRecognizer,
)

__all__ = [
    "AgeRecognizer",
    "AnyEmailRecognizer",
    "CaseReferenceRecognizer",
    "ContextNameRecognizer",
    "DurationRecognizer",
    "FirstNameRecognizer",
    "InitialsRecognizer",
    "InterviewSpacyRecognizer",
    "LineLabelRecognizer",
    "NationalInsuranceRecognizer",
    "NhsNumberRecognizer",
    "OfflineEmailRecognizer",
    "PlaceGazetteerRecognizer",
    "PlaceOfWorshipRecognizer",
    "PostcodeRecognizer",
    "RecallFirstRecognizer",
    "SaintNameRecognizer",
    "SchoolRecognizer",
    "SocialHandleRecognizer",
    "SpecificDateRecognizer",
    "StreetAddressRecognizer",
    "TitleNameRecognizer",
    "TitledNamePatternRecognizer",
    "UkPhoneRecognizer",
    "VoiceTagRecognizer",
    "WebAddressRecognizer",
    "default_recognizers",
    "nhs_checksum_ok",
]


def default_recognizers(gazetteers: Gazetteers) -> list[EntityRecognizer]:
    """Every recogniser qualcode registers, in a fresh instance each."""
    return [
        InterviewSpacyRecognizer(),
        NhsNumberRecognizer(),
        NationalInsuranceRecognizer(),
        PostcodeRecognizer(),
        UkPhoneRecognizer(),
        OfflineEmailRecognizer(),
        AnyEmailRecognizer(),
        WebAddressRecognizer(),
        IpRecognizer(),
        SocialHandleRecognizer(),
        VoiceTagRecognizer(),
        LineLabelRecognizer(),
        TitledNamePatternRecognizer(),
        SaintNameRecognizer(),
        CaseReferenceRecognizer(),
        AgeRecognizer(),
        SpecificDateRecognizer(),
        DurationRecognizer(),
        FirstNameRecognizer(gazetteers),
        TitleNameRecognizer(gazetteers),
        InitialsRecognizer(gazetteers),
        PlaceGazetteerRecognizer(gazetteers),
        SchoolRecognizer(gazetteers),
        PlaceOfWorshipRecognizer(gazetteers),
        StreetAddressRecognizer(gazetteers),
        RecallFirstRecognizer(gazetteers),
        *spoken_recognizers(),
        *structure_recognizers(gazetteers),
    ]
