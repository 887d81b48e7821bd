"""SYNTHETIC test data for the suggestion tests, and the cold-start checks that use it.

Everything here is invented: a three-code codebook about safeguarding practice and short sentences
generated from templates. No real transcript or eval data is used. Other ``test_suggest_*`` modules
import the helpers below.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from pipeline.codebook import Codebook, codebook_from_data

SYNTHETIC_CODEBOOK = {
    "format": "qualcode-codebook/1",
    "name": "Synthetic safeguarding practice (test data)",
    "version": "1",
    "description": "SYNTHETIC codebook for tests.",
    "themes": [
        {
            "id": "risks",
            "name": "Risks",
            "description": "What puts young people at risk.",
            "codes": [
                {
                    "id": "online_radicalisation",
                    "name": "Online radicalisation",
                    "definition": "A young person is drawn into extremist views through the internet, social media, "
                    "gaming platforms or online videos.",
                    "include": ["Mentions of extremist content, channels or videos online."],
                    "examples": ["He was watching far-right videos on YouTube every night."],
                },
            ],
        },
        {
            "id": "practice",
            "name": "Practice",
            "description": "How professionals work.",
            "codes": [
                {
                    "id": "family_engagement",
                    "name": "Engaging families",
                    "definition": "Working with parents and carers: building trust with the family and involving "
                    "them in the safeguarding plan.",
                    "examples": ["We sat down with his mum and talked through the plan."],
                },
                {
                    "id": "training_gaps",
                    "name": "Training",
                    "definition": "Professional training on Prevent, radicalisation or safeguarding, and gaps in "
                    "that training.",
                    "examples": ["The online Prevent module was the only training I had."],
                },
            ],
        },
    ],
}

_TEMPLATES = {
    "online_radicalisation": [
        "{who} spent hours on {platform} watching extremist videos.",
        "{who} was sharing hateful memes in a {platform} group chat.",
        "Someone on {platform} had been grooming {who} with far-right propaganda.",
        "{who} started repeating conspiracy theories picked up from {platform}.",
        "The school found extremist material {who} had downloaded from {platform}.",
    ],
    "family_engagement": [
        "I visited {who}'s {parent} at home to talk about the safeguarding plan.",
        "The {parent} was worried and we agreed to meet every week.",
        "Building trust with the {parent} took months of home visits.",
        "We invited the {parent} to the strategy meeting so they felt involved.",
        "The {parent} refused to engage with children's services at first.",
    ],
    "training_gaps": [
        "My only {course} on radicalisation was a short e-learning module.",
        "Nobody gave us proper {course} on Prevent referrals.",
        "The {course} on safeguarding was years ago and out of date.",
        "I would like more {course} about spotting extremist views.",
        "Our team never had face-to-face {course} about Prevent.",
    ],
}
_FILL = {
    "who": ["[PERSON_1]", "[PERSON_2]", "the boy", "the girl", "the young person", "her brother"],
    "platform": ["TikTok", "Telegram", "YouTube", "Discord", "a gaming forum", "Instagram"],
    "parent": ["mother", "father", "grandmother", "carer", "stepfather", "aunt"],
    "course": ["training", "workshops", "courses", "sessions", "guidance", "briefings"],
}


def synthetic_codebook() -> Codebook:
    return codebook_from_data(SYNTHETIC_CODEBOOK)


def synthetic_units(n_per_code: int = 20, seed: int = 0) -> list[tuple[str, str, str]]:
    """(unit_id, text, true code) triples, one code per unit, ``n_per_code`` units per code."""
    rng = random.Random(seed)
    units = []
    for code, templates in _TEMPLATES.items():
        for i in range(n_per_code):
            text = templates[i % len(templates)].format(**{k: rng.choice(v) for k, v in _FILL.items()})
            units.append((f"{code[:3]}{i:03d}", text, code))
    rng.shuffle(units)
    return units


def write_examples_csv(path: Path, units: list[tuple[str, str, str]], coders: tuple[str, ...] = ("coder_a",)) -> Path:
    """An examples file in the interchange format: every coder codes every code of every unit."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unit_id", "text", "code", "coder", "applied"])
        for unit_id, text, true_code in units:
            for coder in coders:
                for code in _TEMPLATES:
                    writer.writerow([unit_id, text, code, coder, int(code == true_code)])
    return path


@pytest.fixture(scope="session")
def embedder():
    from pipeline.embed import get_embedder
    from pipeline.settings import Settings

    return get_embedder(Settings())


def test_cold_start_ranks_the_right_code_first(embedder) -> None:
    from pipeline.suggest.coldstart import ColdStartScorer

    codebook = synthetic_codebook()
    scorer = ColdStartScorer.from_codebook(codebook, embedder)
    units = synthetic_units(n_per_code=5, seed=1)
    proba = scorer.predict_code_proba(embedder.encode([text for _, text, _ in units]))
    assert proba.shape == (len(units), 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    predicted = [codebook.code_ids[j] for j in proba.argmax(axis=1)]
    hits = sum(p == true for p, (_, _, true) in zip(predicted, units, strict=True))
    assert hits / len(units) >= 0.8
    # An unrelated sentence scores low for every code.
    unrelated = scorer.predict_code_proba(embedder.encode(["The canteen served soup and bread on Tuesday."]))
    assert unrelated.max() < 0.5


def test_cold_start_calibration_learns_from_labels(embedder) -> None:
    from pipeline.suggest.coldstart import DEFAULT_SLOPE, ColdStartScorer
    from pipeline.suggest.estimator import UNKNOWN

    codebook = synthetic_codebook()
    scorer = ColdStartScorer.from_codebook(codebook, embedder)
    units = synthetic_units(n_per_code=10, seed=2)
    X = embedder.encode([t for _, t, _ in units])
    Y = np.array([[int(c == true) for c in codebook.code_ids] for _, _, true in units])
    Y[:5, 0] = UNKNOWN
    scorer.calibrate(X, Y)
    assert scorer.calibrated_on == Y.size - 5
    assert scorer.slope > 0 and scorer.slope != DEFAULT_SLOPE
