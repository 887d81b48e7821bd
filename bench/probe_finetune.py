"""Probe: would fine-tuning the sentence encoder on the coders' labels help the suggester?

A research probe, not a product feature (yet): it measures whether a third channel, all-MiniLM-L6-v2
fine-tuned per fold on the training articles' vote shares, improves on the shipped model. Run it by hand
(about 40 minutes on 2 cores); it is not part of ``make bench`` or the tests.

    .venv/bin/python bench/probe_finetune.py [--epochs 2] [--lr 2e-5] [--folds 5] [--limit N]

Protocol, on ../shared/eval/narrative_frames with the folds of ``bench/eval_suggest.py`` (GroupKFold by
near-duplicate article):
- the shipped model's out-of-fold probabilities ("blend": embedding, word and, since 2026-11-24, counts
  channels; the results quoted before that date had no counts channel), from ``eval_suggest.run_cv``;
- the word channel alone, out of fold (``TextCodeSuggester``);
- per fold, the encoder is fine-tuned on the training articles only: each article is its (up to
  ``--max-chunks``) 256-token chunks, mean-pooled, under a linear head with one output per code, trained
  with binary cross-entropy against the vote shares (unknown labels masked). The head's sigmoid scores
  the held-out articles ("tuned"). (The shipped embedding channel pools sentence vectors since
  2026-11-24; the probe still fine-tunes on token windows, and its quoted results predate the change.)
Reported per code and on average over the 14 targeted codes: ROC AUC against the majority label, and the
"best cut" kappa bound of ``eval_suggest`` (the highest mean model-coder kappa any single cut-off
reaches, chosen with the test labels: an upper bound, comparable across the columns, not a result).
Columns: blend, blend + 0.5 x tuned, tuned + words (replacing the frozen embedding channel).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_suggest as E

from pipeline.codebook import load_codebook
from pipeline.embed import Embedder, get_embedder, resolve_model_path
from pipeline.settings import get_settings
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.examples import ExampleSet, read_examples
from pipeline.suggest.files import training_matrix, training_shares
from pipeline.suggest.lexical import TextCodeSuggester
from pipeline.suggest.priority import near_duplicate_groups
from pipeline.suggest.training import TrainingConfig

TARGETED = ["re2", "re4", "re5", "re6", "re7", "hi1", "hi2", "hi3", "co1", "co2", "co3", "ec1", "ec2", "ec3"]


def fine_tune_scores(
    chunks: list[list[str]], S: np.ndarray, train: np.ndarray, *, epochs: int, lr: float, max_chunks: int,
    batch: int = 4, seed: int = 0,
) -> np.ndarray:
    """Fine-tune the encoder + a linear head on ``train`` and return the head's scores for every article."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SentenceTransformer(str(resolve_model_path(get_settings().embedding_model)), device="cpu")
    model.max_seq_length = 256
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = getter() or 384
    head = torch.nn.Linear(dim, S.shape[1])
    optimiser = torch.optim.AdamW(
        [{"params": model.parameters(), "lr": lr}, {"params": head.parameters(), "lr": 1e-2}], weight_decay=0.01
    )
    targets = torch.tensor(S, dtype=torch.float32)

    def article_vectors(pieces: list[str], owner: list[int], n: int) -> torch.Tensor:
        out = model(model.tokenize(pieces))["sentence_embedding"]
        out = torch.nn.functional.normalize(out, dim=-1)
        index = torch.tensor(owner)
        sums = torch.zeros(n, out.shape[1]).index_add_(0, index, out)
        return sums / torch.bincount(index, minlength=n).unsqueeze(1)

    for _ in range(epochs):
        model.train()
        order = rng.permutation(train)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            pieces, owner = [], []
            for r, i in enumerate(rows):
                own = chunks[i]
                if len(own) > max_chunks:
                    own = [own[j] for j in sorted(rng.choice(len(own), max_chunks, replace=False))]
                pieces += own
                owner += [r] * len(own)
            logits = head(article_vectors(pieces, owner, len(rows)) * 5)
            y = targets[rows]
            mask = (y >= 0).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.clamp(min=0), reduction="none")
            loss = (loss * mask).sum() / mask.sum().clamp(min=1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    scores = np.zeros(S.shape, dtype=np.float64)
    with torch.no_grad():
        for i, own in enumerate(chunks):
            scores[i] = torch.sigmoid(head(article_vectors(own, [0] * len(own), 1) * 5)).numpy()[0]
    return scores


def best_cut(labels: dict, code: str, units: list[str], scores: np.ndarray) -> float | None:
    values = [
        k
        for t in E.BEST_CUT_GRID
        if (k := E.model_human_kappa(labels, code, dict(zip(units, (scores >= t).astype(int).tolist(), strict=True))))
        is not None
    ]
    return max(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-chunks", type=int, default=4, help="chunks per article per training step")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N articles (quick check)")
    args = parser.parse_args(argv)
    if not E.DATA_DIR.exists():
        print(f"shared eval data not found at {E.DATA_DIR}; skipping (see ../shared/eval/README.md)")
        return 0
    t0 = time.time()
    codebook = load_codebook(E.DATA_DIR / "codebook.yaml")
    examples = read_examples(E.DATA_DIR / "examples.csv.gz", known_codes=set(codebook.code_ids))
    if args.limit:
        keep = set(list(examples.units)[: args.limit])
        examples = ExampleSet(
            units={u: t for u, t in examples.units.items() if u in keep},
            decisions=[d for d in examples.decisions if d.unit in keep],
        )
    units, Y = training_matrix(examples, codebook.code_ids)
    texts = [examples.units[u] for u in units]
    S = training_shares(examples, units, codebook.code_ids)
    X = E.embed_units(texts, E.RESULTS / "narrative_frames_embeddings.npz" if not args.limit else None)
    groups = near_duplicate_groups(X)
    labels = E.coder_labels(examples)
    embedder = get_embedder()
    coldstart = ColdStartScorer.from_codebook(codebook, embedder)

    blend = E.run_cv(codebook, X, Y, S, texts, groups, copy.deepcopy(coldstart), TrainingConfig(), args.folds)["proba"]
    words = np.full(Y.shape, np.nan)
    tuned = np.full(Y.shape, np.nan)
    chunker = Embedder(get_settings().embedding_model)
    chunks = [chunker._chunks(t or " ") for t in texts]
    for fold, (train, test) in enumerate(GroupKFold(n_splits=args.folds).split(X, Y, groups)):
        words[test] = TextCodeSuggester(min_positive=10).fit([texts[i] for i in train], S[train]).predict_code_proba(
            [texts[i] for i in test]
        )
        tuned[test] = fine_tune_scores(
            chunks, S, train, epochs=args.epochs, lr=args.lr, max_chunks=args.max_chunks, seed=fold
        )[test]
        print(f"  fold {fold + 1}/{args.folds} fine-tuned, {time.time() - t0:.0f}s", flush=True)

    columns = {"blend": blend, "blend+0.5 tuned": (blend + 0.5 * tuned) / 1.5, "tuned+words": (tuned + words) / 2}
    rows, summary = [], {name: {"auc": [], "kappa": [], "wins": 0} for name in columns}
    for code in [c for c in TARGETED if c in codebook.code_ids]:
        j = codebook.code_ids.index(code)
        known = Y[:, j] != -1
        if len(set(Y[known, j].tolist())) < 2:
            continue
        human, _ = E.human_human_kappa(labels, code)
        row = {"code": code, "human": human}
        for name, scores in columns.items():
            auc = float(roc_auc_score(Y[known, j], scores[known, j]))
            kappa = best_cut(labels, code, units, scores[:, j])
            row[name] = {"auc": auc, "kappa_best_cut": kappa}
            summary[name]["auc"].append(auc)
            summary[name]["kappa"].append(kappa or 0.0)
            summary[name]["wins"] += int(kappa is not None and human is not None and kappa >= human)
        rows.append(row)
    print("| code | human κ | " + " | ".join(f"{n} AUC | {n} κ bound" for n in columns) + " |")
    for row in rows:
        cells = " | ".join(f"{row[n]['auc']:.3f} | {E._f(row[n]['kappa_best_cut'])}" for n in columns)
        print(f"| {row['code']} | {E._f(row['human'])} | {cells} |")
    for name, s in summary.items():
        print(
            f"{name}: mean AUC {np.mean(s['auc']):.4f}, mean κ bound {np.mean(s['kappa']):.3f}, "
            f"κ bound ≥ human on {s['wins']}/{len(rows)} codes"
        )
    out = E.RESULTS / "probe_finetune.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "codes": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"({time.time() - t0:.0f}s; written to {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
