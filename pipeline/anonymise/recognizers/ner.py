"""spaCy NER as a Presidio recogniser, with the filters interview text needs."""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

SPECIFIC_DATE = re.compile(
    r"\d|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b(?:christmas|easter)\b",
    re.IGNORECASE,
)


class InterviewSpacyRecognizer(SpacyRecognizer):
    """spaCy entities, keeping only dates that pin a moment down.

    Why: "last year" or "a couple of months" carry the story an analyst codes and identify no one; "3 May
    2019", "2019" and "in March" narrow events down and are masked. Organisations score just above the
    review threshold: the small model tags many ordinary capitalised phrases as ORG.
    """

    ENTITIES: ClassVar[list[str]] = ["DATE_TIME", "LOCATION", "PERSON", "ORGANIZATION"]
    ORG_SCORE = 0.65

    def __init__(self) -> None:
        super().__init__(supported_entities=list(self.ENTITIES), name=type(self).__name__)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        kept = []
        for res in super().analyze(text, entities, nlp_artifacts):
            if res.entity_type == "DATE_TIME" and not SPECIFIC_DATE.search(text[res.start : res.end]):
                continue
            if res.entity_type == "ORGANIZATION":
                res.score = min(res.score, self.ORG_SCORE)
            kept.append(res)
        return kept
