"""Inter-coder agreement: coefficients, per-code and per-theme reports, disagreements, adjudication.

Modules, from the bottom up:

- ``metrics``: the coefficients on a units × coders ``RatingMatrix`` (percent agreement, Cohen's, Fleiss'
  and Conger's kappa, Scott's pi, Krippendorff's alpha at four levels, Gwet's AC1 with its standard
  error) and ``summarise`` for all of them with bootstrap intervals; degenerate data raises
  ``pipeline.errors.NotComputable`` with the reason.
- ``report``: long-format ``Decision``s → ``AgreementRecord``s per code, coder pair, theme and overall.
- ``codings_csv`` / ``export``: the ``qualcode agreement`` file formats (CSV in; JSON, CSV, HTML out).
- ``decisions``: what a "yes" and a "no" are in the database (blind sample, model, reviews).
- ``adjudicate``: disagreements on the blind sample and a lead's resolution of each.
- ``snapshots``: stored snapshots after each batch, and the alerts they raise.
- ``overview`` / ``svg`` / ``codebook_view``: what the leads' dashboard shows, and how it is drawn.
"""

from pipeline.agreement.adjudicate import Disagreement, adjudicate, list_disagreements
from pipeline.agreement.decisions import db_report, load_decisions
from pipeline.agreement.metrics import (
    Estimate,
    RatingMatrix,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    summarise,
)
from pipeline.agreement.report import AgreementRecord, Decision, ReportOptions, agreement_report
from pipeline.agreement.snapshots import AgreementFlag, snapshot_agreement

__all__ = [
    "AgreementFlag",
    "AgreementRecord",
    "Decision",
    "Disagreement",
    "Estimate",
    "RatingMatrix",
    "ReportOptions",
    "adjudicate",
    "agreement_report",
    "cohen_kappa",
    "db_report",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "list_disagreements",
    "load_decisions",
    "percent_agreement",
    "snapshot_agreement",
    "summarise",
]
