"""Exports of coded work: REFI-QDA projects (``.qdpx``) for QDA packages, and CSV for analysis.

``export_qdpx`` writes a project NVivo, ATLAS.ti, MAXQDA and QualCoder import (anonymised sources,
codebook, each coder's codings, notes, site and role variables); ``validate_qde`` checks its XML against
the REFI project schema; ``read_qdpx`` reads one back. ``export_csv`` writes decisions per coder, a
consensus matrix per segment, or the ``unit_id,code,coder,applied`` file ``qualcode agreement`` reads.
Every export adds an audit row with counts, never text. Exports only ever contain anonymised text.
"""

from pipeline.export.qdpx import QdpxSummary, export_qdpx
from pipeline.export.refi import RefiProject, parse_project, read_qdpx, read_source_text, validate_qde
from pipeline.export.tabular import LEVELS, CsvSummary, consensus, export_csv

__all__ = [
    "LEVELS",
    "CsvSummary",
    "QdpxSummary",
    "RefiProject",
    "consensus",
    "export_csv",
    "export_qdpx",
    "parse_project",
    "read_qdpx",
    "read_source_text",
    "validate_qde",
]
