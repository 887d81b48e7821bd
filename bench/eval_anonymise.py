"""Measure qualcode's anonymiser next to out-of-the-box Presidio, in one run, on the same texts.

    .venv/bin/python bench/eval_anonymise.py [--tab-limit N] [--skip-tab] [--repeat 1]

Data:
- TAB (../shared/eval/tab, or $QUALCODE_EVAL_DIR/tab): 64 ECHR judgments, every annotator-1 mention as gold
  (a proxy metric, not TAB's official one; see its README). Token rule: ``pipeline.anonymise.evaluation``.
- bench/gold/uk_interviews.jsonl: SYNTHETIC UK interview excerpts written for qualcode alongside development,
  and bench/gold/uk_interviews_heldout.jsonl, written after the rules were frozen (not tuned on); every
  direct identifier annotated; bench/gold/domain_terms.txt: practice vocabulary that must survive.
  Excerpts in txt/vtt form are also read with the ingest readers and anonymised as documents, and
  checked for any gold identifier left in the output text or speaker labels.

Baseline: Presidio ``AnalyzerEngine`` with its default registry and NER mapping on the same spaCy model
(en_core_web_sm from its package), every entity, default thresholds. Throughput is characters per
second of wall time over the same texts, models loaded and warmed up beforehand.

Writes bench/results/anonymise_<UTC time>.json and prints a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.anonymise import InMemoryPseudonymStore, build_anonymiser  # noqa: E402
from pipeline.anonymise.engine import build_baseline_analyzer  # noqa: E402
from pipeline.anonymise.evaluation import TokenScores, surviving_terms  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

EVAL_DIR = Path(os.environ.get("QUALCODE_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
GOLD = REPO / "bench" / "gold"
RESULTS = REPO / "bench" / "results"
#: Targets from issue 15 (TAB token recall per type, precision).
TARGETS = {"PERSON": 0.99, "CODE": 0.98, "DATETIME": 0.97, "precision": 0.75}


def load_tab(limit: int | None) -> tuple[list[str], list[str], dict[str, list[list[object]]]]:
    texts_path = EVAL_DIR / "tab" / "texts.jsonl"
    gold = json.loads((EVAL_DIR / "tab" / "gold_entity_mentions.json").read_text(encoding="utf-8"))
    ids, texts = [], []
    with texts_path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            ids.append(row["id"])
            texts.append(row["text"])
    if limit:
        ids, texts = ids[:limit], texts[:limit]
    return ids, texts, gold


def run_ours(anonymiser, texts: list[str]) -> tuple[list[list[tuple[int, int]]], float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    results = anonymiser.anonymise_many(texts, InMemoryPseudonymStore())
    elapsed = time.perf_counter() - start
    return [[(s.start, s.end) for s in r.spans] for r in results], elapsed


def run_baseline(analyzer, texts: list[str]) -> tuple[list[list[tuple[int, int]]], float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    spans = [[(r.start, r.end) for r in analyzer.analyze(text, language="en")] for text in texts]
    return spans, time.perf_counter() - start


def score(texts: list[str], golds: list[list[list[object]]], spans: list[list[tuple[int, int]]]) -> TokenScores:
    scores = TokenScores()
    for text, gold, system in zip(texts, golds, spans, strict=True):
        scores.add(text, gold, system)
    return scores


def document_leaks(anonymiser, rows: list[dict[str, object]]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Read txt/vtt excerpts with the ingest readers, anonymise as documents, look for any gold surface."""
    from pipeline.ingest import read_document

    settings = Settings()
    checked, leaks = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            if row["format"] == "plain":
                continue
            text = str(row["text"])
            path = Path(tmp) / f"{row['id']}.{row['format']}"
            path.write_text(text + "\n", encoding="utf-8")
            doc = anonymiser.anonymise_document(read_document(path, settings), InMemoryPseudonymStore())
            output = doc.text + "\n" + "\n".join(t.speaker or "" for t in doc.turns)
            for start, end, kind in row["spans"]:  # type: ignore[misc]
                surface = text[start:end]
                checked += 1
                for word in re.findall(r"\w+", surface):
                    if len(word) > 2 and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", output, re.IGNORECASE):
                        leaks.append({"id": row["id"], "type": kind})
                        break
    return {"mentions_checked": checked, "leaked": len(leaks), "leaks": leaks}


def uk_gold(name: str, title: str, ours, baseline, report: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    """Score one SYNTHETIC UK gold file (plain-text spans, domain terms, documents via ingest)."""
    rows = [json.loads(line) for line in (GOLD / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line]
    terms = [
        t.strip()
        for t in (GOLD / "domain_terms.txt").read_text(encoding="utf-8").splitlines()
        if t.strip() and not t.startswith("#")
    ]
    texts = [str(r["text"]) for r in rows]
    golds = [r["spans"] for r in rows]
    chars = sum(len(t) for t in texts)
    ours_spans, ours_time = run_ours(ours, texts)
    base_spans, base_time = run_baseline(baseline, texts)
    s_ours, s_base = score(texts, golds, ours_spans), score(texts, golds, base_spans)
    term_stats = {}
    for system_name, spans in (("qualcode", ours_spans), ("presidio_default", base_spans)):
        found, masked = 0, []
        for text, system in zip(texts, spans, strict=True):
            f, m = surviving_terms(text, terms, system)
            found += f
            masked.extend(m)
        term_stats[system_name] = {"occurrences": found, "masked": len(masked), "masked_terms": sorted(set(masked))}
    leaks = document_leaks(ours, rows)
    report[name] = {
        "excerpts": len(rows),
        "chars": chars,
        "qualcode": {
            **s_ours.as_dict(),
            "domain_terms": term_stats["qualcode"],
            "documents": leaks,
            "chars_per_second": chars / ours_time,
        },
        "presidio_default": {
            **s_base.as_dict(),
            "domain_terms": term_stats["presidio_default"],
            "chars_per_second": chars / base_time,
        },
    }
    print(f"\n{title} (SYNTHETIC; {len(rows)} excerpts, {s_ours.as_dict()['mentions']} identifier mentions)")
    print(f"{'type':<18}{'mentions':>9}{'presidio':>10}{'qualcode':>10}   (share of mentions fully masked)")
    for kind in sorted(s_ours.mentions):
        print(
            f"{kind:<18}{s_ours.mentions[kind]:>9}{fmt(s_base.mention_recall(kind)):>10}"
            f"{fmt(s_ours.mention_recall(kind)):>10}"
        )
    print(
        f"{'all identifiers':<18}{sum(s_ours.mentions.values()):>9}{fmt(s_base.mention_recall()):>10}"
        f"{fmt(s_ours.mention_recall()):>10}"
    )
    print(f"{'token recall':<18}{'':>9}{fmt(s_base.recall()):>10}{fmt(s_ours.recall()):>10}")
    print(f"{'token precision':<18}{'':>9}{fmt(s_base.precision):>10}{fmt(s_ours.precision):>10}")
    tq, tb = term_stats["qualcode"], term_stats["presidio_default"]
    print(
        f"{'domain terms kept':<18}{tq['occurrences']:>9}{tb['occurrences'] - tb['masked']:>10}"
        f"{tq['occurrences'] - tq['masked']:>10}"
    )
    if tq["masked_terms"]:
        print(f"  qualcode masked domain terms: {', '.join(tq['masked_terms'])}")
    print(
        f"documents (txt/vtt via ingest): {leaks['mentions_checked']} identifier mentions checked, "
        f"{leaks['leaked']} left in output"
    )


def fmt(value: float) -> str:
    return "  n/a" if value != value else f"{value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tab-limit", type=int, default=None, help="Only the first N TAB documents.")
    parser.add_argument("--skip-tab", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="Timing repeats (best of N).")
    args = parser.parse_args()

    settings = Settings()
    t0 = time.perf_counter()
    ours = build_anonymiser(settings)
    baseline = build_baseline_analyzer(settings.spacy_model)
    ours.anonymise("Warm up with Kyle in Leeds on 3 May 2019.")
    baseline.analyze("Warm up with Kyle in Leeds on 3 May 2019.", language="en")
    report: dict[str, object] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "spacy_model": settings.spacy_model,
        "load_seconds": round(time.perf_counter() - t0, 2),
        "token_rule": "\\w+ tokens; ignore punctuation and mr/mrs/ms/no/nr/about; masked = overlapped by a span",
    }

    # ---------------------------------------------------------------- TAB
    if args.skip_tab or not (EVAL_DIR / "tab" / "texts.jsonl").exists():
        print(f"TAB: skipped ({EVAL_DIR / 'tab'} not found or --skip-tab)")
    else:
        ids, texts, gold = load_tab(args.tab_limit)
        golds = [gold.get(i, []) for i in ids]
        chars = sum(len(t) for t in texts)
        # Interleaved, best of N: the machine is shared, so load drifts between runs.
        ours_runs, base_runs = [], []
        for _ in range(args.repeat):
            ours_runs.append(run_ours(ours, texts))
            base_runs.append(run_baseline(baseline, texts))
        ours_spans, ours_time = ours_runs[0][0], min(r[1] for r in ours_runs)
        base_spans, base_time = base_runs[0][0], min(r[1] for r in base_runs)
        s_ours, s_base = score(texts, golds, ours_spans), score(texts, golds, base_spans)
        report["tab"] = {
            "documents": len(texts),
            "chars": chars,
            "qualcode": {**s_ours.as_dict(), "chars_per_second": chars / ours_time, "seconds": ours_time},
            "presidio_default": {**s_base.as_dict(), "chars_per_second": chars / base_time, "seconds": base_time},
        }
        print(f"\nTAB ({len(texts)} documents, {chars:,} chars; gold = all annotator-1 mentions; token recall)")
        print(f"{'type':<12}{'gold tok':>9}{'presidio':>10}{'qualcode':>10}{'target':>8}")
        for kind in sorted(s_ours.gold_tokens):
            target = TARGETS.get(kind)
            print(
                f"{kind:<12}{s_ours.gold_tokens[kind]:>9}{fmt(s_base.recall(kind)):>10}{fmt(s_ours.recall(kind)):>10}"
                f"{'' if target is None else f'{target:.2f}':>8}"
            )
        print(
            f"{'all types':<12}{sum(s_ours.gold_tokens.values()):>9}"
            f"{fmt(s_base.recall()):>10}{fmt(s_ours.recall()):>10}"
        )
        print(
            f"{'precision':<12}{'':>9}{fmt(s_base.precision):>10}{fmt(s_ours.precision):>10}{TARGETS['precision']:>8.2f}"
        )
        print(f"{'chars/s':<12}{'':>9}{chars / base_time:>10,.0f}{chars / ours_time:>10,.0f}")

    # ---------------------------------------------------------------- own UK gold sets
    uk_gold("uk_interviews", "UK interview gold set (written alongside development)", ours, baseline, report)
    uk_gold(
        "uk_interviews_heldout", "UK held-out gold set (written after the rules were frozen)", ours, baseline, report
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"anonymise_{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"\nwritten {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
