"""The codebook: themes and codes that coders apply to transcript segments.

``load_codebook(path)`` reads and validates a ``qualcode-codebook/1`` YAML file into an immutable
``Codebook``; errors are ``pipeline.errors.CodebookError`` naming the file and line. See
``codebook/README.md`` for the file format.
"""

from pipeline.codebook.loader import (
    codebook_from_data,
    dump_codebook,
    dumps_codebook,
    load_codebook,
    loads_codebook,
)
from pipeline.codebook.model import FORMAT, Code, Codebook, Theme

__all__ = [
    "FORMAT",
    "Code",
    "Codebook",
    "Theme",
    "codebook_from_data",
    "dump_codebook",
    "dumps_codebook",
    "load_codebook",
    "loads_codebook",
]
