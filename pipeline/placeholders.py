"""The shape of an anonymisation placeholder (``[PERSON_7]``), in a module with no dependencies.

Why here and not only in ``pipeline.anonymise``: code that reads anonymised text without anonymising it
(the suggester's counts channel) needs the pattern, and importing the ``pipeline.anonymise`` package loads
Presidio and spaCy (seconds). ``pipeline.anonymise.entities`` re-exports it.
"""

from __future__ import annotations

import re

PLACEHOLDER_RE = re.compile(r"\[(?P<type>[A-Z_]+)_(?P<number>\d+)\]")
