"""Bounded integer types for path, query and form parameters of the web app.

Why: an id or offset is passed straight to the database. A number beyond the column's range (say 10**30 in a
URL) made SQLite raise ``OverflowError`` and PostgreSQL ``NumericValueOutOfRange``: a 500 page instead of
"no such item". Declaring the range here makes FastAPI answer 422 before a view runs, on both backends.
"""

from __future__ import annotations

from typing import Annotated, Any

import annotated_types as at
from fastapi import Form

#: The largest value of a 32-bit signed integer column (PostgreSQL ``integer``, every id and offset here).
MAX_INT = 2**31 - 1

#: A row id (path, query or form): 1 .. MAX_INT.
Id = Annotated[int, at.Ge(1), at.Le(MAX_INT)]
#: A non-negative count or offset (character positions, row versions): 0 .. MAX_INT.
Count = Annotated[int, at.Ge(0), at.Le(MAX_INT)]


def id_form() -> Any:
    """A required form field holding a row id (``segment_id: int = id_form()``).

    Why a function: FastAPI drops the ``Annotated`` bounds of ``Id`` when the default is ``Form(...)``, and a
    form field without a default cannot follow the views' ``Depends`` defaults.
    """
    return Form(..., ge=1, le=MAX_INT)


def count_form() -> Any:
    """A required form field holding a non-negative count or offset (``version: int = count_form()``)."""
    return Form(..., ge=0, le=MAX_INT)
