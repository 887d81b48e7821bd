"""Model cards: what a suggestion model was trained on and how well it did, for people and for audits.

Why: a team deciding whether to trust auto-applied codes needs to see, per code, how much evidence the
model had, how precise it was in cross-validation and where its thresholds sit; a reviewer of a study
needs the codebook version and embedding model that produced every suggestion. The card holds counts,
metrics and settings only (never text), so it is safe to share.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pipeline.suggest.policy import ThresholdReport

if TYPE_CHECKING:
    from pipeline.suggest.model import SuggestionModel

#: One-line summary of the rule documented in full in :mod:`pipeline.suggest.labels`.
CONFLICT_RULE = (
    "model decisions ignored; latest adjudication wins; otherwise one vote per coder (their latest "
    "decision), majority wins; ties and missing decisions are unknown (left out), never negative"
)


def build_card(
    model: SuggestionModel,
    reports: dict[str, ThresholdReport],
    training: dict[str, Any],
) -> dict[str, Any]:
    """The model card as plain JSON-safe data."""
    codebook = model.codebook
    learned = dict(zip(model.codes, model.learned, strict=True))
    est = model.estimator
    codes: dict[str, Any] = {}
    for j, code in enumerate(codebook.codes):
        entry: dict[str, Any] = {
            "name": code.name,
            "theme": code.theme_id,
            "mode": "model" if learned[code.id] else "cold_start",
            "definition_hash": code.definition_hash,
            "n_positive": int(est.n_positive_[j]) if est is not None else 0,
            "n_negative": int(est.n_negative_[j]) if est is not None else 0,
            "thresholds": model.policy.thresholds_for(code.id, cold_start=not learned[code.id]).to_dict(),
        }
        report = reports.get(code.id)
        if report is not None:
            entry["cv"] = {
                "apply_precision": report.apply_precision,
                "apply_recall": report.apply_recall,
                "review_share": report.review_share,
                "f1_at_0.5": report.f1_at_half,
                "kappa_at_decision": report.kappa_at_decision,
                "n_known": report.n_known,
            }
        codes[code.id] = entry
    return {
        "model_version": model.version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "embedding_model": model.embedding_model,
        "codebook": {
            "name": codebook.name,
            "version": codebook.version,
            "content_hash": codebook.content_hash,
        },
        "estimator": {
            "class": f"{type(est).__module__}.{type(est).__qualname__}" if est is not None else None,
            "params": est.get_params() if est is not None else None,
        },
        "training": {**training, "conflict_rule": CONFLICT_RULE},
        "policy": {
            "cold_start_review": model.policy.cold_start_review,
            "cold_start_top_k": model.policy.cold_start_top_k,
            "note": "apply thresholds reach the target precision on cross-validated predictions "
            "(a fixed-sequence binomial test at training.precision_confidence, walking the cut-offs down "
            "from the top and stopping at the first that fails; the Beta(1,1) posterior mean when it is "
            "null); cold-start scores are never auto-applied; the decision threshold (the model's yes/no, "
            "for agreement with coders) maximises Cohen's kappa on the same predictions and does not "
            "change apply / review / drop",
        },
        "cold_start": model.coldstart.params(),
        "codes": codes,
        "limitations": [
            "Cross-validated figures are measured on the predictions the thresholds were tuned on, so "
            "they are optimistic; see bench/eval_suggest.py for held-out measurements.",
            "Cold-start probabilities are rough (similarity to the codebook text), for review only.",
        ],
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def card_markdown(card: dict[str, Any]) -> str:
    """A readable Markdown rendering of ``build_card`` output."""
    if not card:
        return "# Model card\n\n(no card recorded)\n"
    cb = card.get("codebook", {})
    training = card.get("training", {})
    lines = [
        f"# Model card: {card.get('model_version')}",
        "",
        f"- Created: {card.get('created_at')}",
        f"- Codebook: {cb.get('name')} v{cb.get('version')} (hash `{str(cb.get('content_hash'))[:12]}`)",
        f"- Embedding model: {card.get('embedding_model')}",
        f"- Training units: {training.get('n_units')}, resolved labels: {training.get('n_labels')}",
        f"- Target precision: {_fmt(training.get('target_precision'))} "
        f"(with confidence {_fmt(training.get('precision_confidence'))}), "
        f"review floor: {_fmt(training.get('review_floor'))}, "
        f"min positive examples: {training.get('min_positive_examples')}",
        f"- Conflicting coders: {training.get('conflict_rule')}",
    ]
    if training.get("label_rule"):
        lines.append(f"- Training labels: {training['label_rule']} ({training.get('n_soft_labels', 0)} split)")
    if training.get("embedding_channel"):
        lines.append(f"- Embedding channel: {training['embedding_channel']}")
    lexical = training.get("lexical") or {}
    weights = lexical.get("weights") or {}
    if lexical.get("enabled"):
        numbers = " (numbers only as markers: money, percent, year, number)" if lexical.get("number_shapes") else ""
        lines.append(
            f"- Word channel: TF-IDF of alphabetic words{numbers} seen in at least {lexical.get('min_df')} "
            f"training units ({lexical.get('vocabulary_size')} features; the words themselves are not listed "
            f"here); its share of the blend per code: {lexical.get('weight_rule', 'fixed')} (column 'words')"
        )
    counts = training.get("counts") or {}
    count_weights = counts.get("weights") or {}
    if counts.get("enabled"):
        lines.append(
            "- Counts channel: how often each unit mentions sums of money, percentages, years, numbers and "
            "quotes, and its length (log counts, standardised); its share of the blend per code: lowest "
            "out-of-fold log loss (column 'counts')"
        )
    lines += [
        "",
        "| code | theme | mode | units with a yes | units with a no | words | counts | apply ≥ | review ≥ "
        "| CV precision | CV recall | CV review share | CV F1@0.5 | yes ≥ | CV κ@yes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for code, entry in card.get("codes", {}).items():
        t = entry.get("thresholds", {})
        cv = entry.get("cv", {})
        words = _fmt(weights.get(code)) if entry.get("mode") == "model" else "–"
        share = _fmt(count_weights.get(code)) if entry.get("mode") == "model" else "–"
        lines.append(
            f"| {code} | {entry.get('theme')} | {entry.get('mode')} | {entry.get('n_positive')} "
            f"| {entry.get('n_negative')} | {words} | {share} | {_fmt(t.get('apply'))} | {_fmt(t.get('review'))} "
            f"| {_fmt(cv.get('apply_precision'))} | {_fmt(cv.get('apply_recall'))} "
            f"| {_fmt(cv.get('review_share'))} | {_fmt(cv.get('f1_at_0.5'))} "
            f"| {_fmt(t.get('decision'))} | {_fmt(cv.get('kappa_at_decision'))} |"
        )
    lines += ["", "## Limitations", ""] + [f"- {item}" for item in card.get("limitations", [])]
    return "\n".join(lines) + "\n"
