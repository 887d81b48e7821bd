"""Train and suggest from plain files, without a database (``qualcode train`` / ``qualcode suggest``).

Why a database-free path: the measurement, and teams that just want to try the suggester on a coded
sample, should not need a project database. Texts are embedded in memory with the configured embedder
(long units chunked and pooled) and nothing but the model artefact and the output CSV is written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.codebook import load_codebook
from pipeline.embed import Embedder, get_embedder
from pipeline.errors import InputFileError
from pipeline.settings import Settings, get_settings
from pipeline.suggest.examples import ExampleSet, read_examples
from pipeline.suggest.labels import label_matrix, resolve_labels, resolve_shares, share_matrix
from pipeline.suggest.model import SuggestionModel
from pipeline.suggest.priority import near_duplicate_groups
from pipeline.suggest.training import TrainingConfig, train_model

OUTPUT_COLUMNS = ("unit_id", "code", "probability", "decision")


def training_matrix(examples: ExampleSet, codes: list[str]) -> tuple[list[str], np.ndarray]:
    """Unit ids and their resolved label matrix (codebook order; -1 unknown)."""
    units = list(examples.units)
    return units, label_matrix(units, codes, resolve_labels(examples.decisions))


def training_shares(examples: ExampleSet, units: list[str], codes: list[str]) -> np.ndarray:
    """The coders' vote shares for ``units`` (codebook order; -1 unknown): what the estimators fit."""
    return share_matrix(units, codes, resolve_shares(examples.decisions))


def train_from_files(
    codebook_path: Path | str,
    examples_path: Path | str,
    model_out: Path | str,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
) -> SuggestionModel:
    """Train on an examples CSV against a codebook YAML and save the artefact to ``model_out``."""
    settings = settings or get_settings()
    codebook = load_codebook(codebook_path)
    examples = read_examples(examples_path, known_codes=set(codebook.code_ids))
    units, Y = training_matrix(examples, codebook.code_ids)
    embedder = embedder or get_embedder(settings)
    texts = [examples.units[u] for u in units]
    X = embedder.encode(texts)
    # Near-duplicate units share a CV group, so thresholds are not tuned on leaked copies.
    groups = near_duplicate_groups(X)
    model = train_model(
        codebook,
        X,
        Y,
        texts=texts,
        Y_fit=training_shares(examples, units, codebook.code_ids),
        embedder=embedder,
        groups=groups,
        config=TrainingConfig.from_settings(settings),
    )
    model.save(model_out)
    return model


@dataclass(frozen=True)
class SuggestFileStats:
    units: int
    rows: int
    applied: int
    review: int
    dropped: int


def read_units_jsonl(path: Path | str) -> Iterator[tuple[str, str]]:
    """Yield (id, text) from a JSONL file; errors name the file and line, never the text."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(path, f"cannot open ({exc.strerror or type(exc).__name__})") from None
    seen: set[str] = set()
    with handle:
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    raise InputFileError(path, f"line {line_no}: not valid JSON") from None
                if not isinstance(row, dict):
                    raise InputFileError(path, f"line {line_no}: expected an object with 'id' and 'text'")
                unit_id, text = row.get("id"), row.get("text")
                if isinstance(unit_id, int) and not isinstance(unit_id, bool):
                    unit_id = str(unit_id)
                if not isinstance(unit_id, str) or not unit_id.strip():
                    raise InputFileError(path, f"line {line_no}: 'id' must be a non-empty string")
                if not isinstance(text, str):
                    raise InputFileError(path, f"line {line_no}: 'text' must be a string")
                if unit_id in seen:
                    raise InputFileError(path, f"line {line_no}: duplicate id {unit_id[:100]!r}")
                seen.add(unit_id)
                yield unit_id, text
        except UnicodeDecodeError:
            raise InputFileError(path, "not valid UTF-8 text") from None


def suggest_from_files(
    model_dir: Path | str,
    input_jsonl: Path | str,
    output_csv: Path | str,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    batch_size: int = 256,
) -> SuggestFileStats:
    """Score every unit of ``input_jsonl`` for every code; write ``unit_id,code,probability,decision``."""
    settings = settings or get_settings()
    model = SuggestionModel.load(model_dir)
    embedder = embedder or get_embedder(settings)
    model.check_embedding_model(embedder)
    output_csv = Path(output_csv)
    output_csv.parent.mkdir(parents=True, exist_ok=True)
    counts = {"apply": 0, "review": 0, "drop": 0}
    n_units = 0
    with output_csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(OUTPUT_COLUMNS)
        batch: list[tuple[str, str]] = []
        for item in read_units_jsonl(input_jsonl):
            batch.append(item)
            if len(batch) >= batch_size:
                n_units += _write_batch(writer, model, embedder, batch, counts)
                batch = []
        if batch:
            n_units += _write_batch(writer, model, embedder, batch, counts)
    return SuggestFileStats(
        units=n_units,
        rows=sum(counts.values()),
        applied=counts["apply"],
        review=counts["review"],
        dropped=counts["drop"],
    )


def _write_batch(
    writer: Any,  # a csv writer (its type is private to the csv module)
    model: SuggestionModel,
    embedder: Embedder,
    batch: list[tuple[str, str]],
    counts: dict[str, int],
) -> int:
    """Embed, score and decide one batch of units and write one row per (unit, code)."""
    texts = [text for _, text in batch]
    X = embedder.encode(texts)
    scores = model.score(X, texts=texts)
    decisions = model.decide(scores)
    for i, (unit_id, _) in enumerate(batch):
        for j, code in enumerate(scores.codes):
            decision = decisions[i, j]
            counts[decision] += 1
            writer.writerow((unit_id, code, f"{scores.proba[i, j]:.4f}", decision))
    return len(batch)
