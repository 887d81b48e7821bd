"""``qualcode review``: the review queue in a terminal, with the web page's keys.

Keys: ``a`` accept (blind: save the chosen codes), ``r`` reject, ``s`` skip, ``u`` undo, ``b`` accept the
near-duplicate group, ``c`` or ``/`` choose codes (then type a code id or search words and Enter; several
separated by commas; a leading ``-`` marks a code as considered but not applied in blind coding), ``n`` note
(type it and Enter), ``1``-``5`` certainty, ``l`` list the codes, ``q`` quit.

Why keys come from a ``KeySource``: on a terminal they are read one at a time in raw mode, but the same
loop reads them from a pipe or a ``--keys`` string, which is how it is tested and scripted. Decisions go
through the same library functions as the web app, so leases, version checks and audit rows are identical.
Like the web page, the terminal keeps its lease alive while an item is on screen (a heartbeat thread renews
it every third of the lease), so a coder who reads a long passage does not lose the item to someone else.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pipeline.embed import settings_identity
from pipeline.errors import ConflictError, ReviewError
from pipeline.review.catalogue import Catalogue, CodeInfo, load_catalogue
from pipeline.review.context import ItemView, build_item_view
from pipeline.review.decisions import bulk_accept, decide_review, group_size, skip, submit_blind, undo_last
from pipeline.review.queue import Reviewer, lease_next, release_all, renew_lease
from pipeline.settings import Settings
from pipeline.store.db import session_scope
from pipeline.store.models import ReviewItem

log = logging.getLogger(__name__)

HELP_REVIEW = (
    "a accept · r reject · c other code · b accept group · s skip · u undo · n note · 1-5 certainty · "
    "l list codes · q quit"
)
HELP_BLIND = "c choose codes · a save · s skip · u undo · n note · 1-5 certainty · l list codes · q quit"


class KeySource(Protocol):
    def key(self) -> str | None:
        """The next key, or None when input is exhausted."""

    def line(self, prompt: str) -> str | None:
        """A line of text (code search, note), or None when input is exhausted."""


class StreamKeys:
    """Keys from a text stream or string: each character is a key; ``line`` reads up to a newline.

    Newlines between keys are ignored, so ``printf 'a\\nr\\n'`` and ``--keys ar`` do the same.
    """

    def __init__(self, stream: TextIO | str) -> None:
        self._stream = io.StringIO(stream) if isinstance(stream, str) else stream

    def key(self) -> str | None:
        while True:
            char = self._stream.read(1)
            if not char:
                return None
            if char not in "\r\n":
                return char

    def line(self, prompt: str) -> str | None:
        chars: list[str] = []
        while True:
            char = self._stream.read(1)
            if not char:
                return "".join(chars) if chars else None
            if char == "\n":
                return "".join(chars).rstrip("\r")
            chars.append(char)


class TtyKeys:
    """Single key presses from the terminal (raw mode), restoring the terminal for line input."""

    def __init__(self, console: Console, stream: TextIO | None = None) -> None:
        self._console = console
        self._stream = stream or sys.stdin

    def key(self) -> str | None:
        import termios
        import tty

        fd = self._stream.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            char = os.read(fd, 1).decode(errors="ignore")
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if char in ("\x03", "\x04"):  # Ctrl-C, Ctrl-D
            return None
        return char

    def line(self, prompt: str) -> str | None:
        try:
            return self._console.input(prompt)
        except (EOFError, KeyboardInterrupt):
            return None


@dataclass
class ReviewSummary:
    """Counts of what a terminal session did (printed at the end; used by tests)."""

    decided: int = 0
    skipped: int = 0
    undone: int = 0
    conflicts: int = 0
    actions: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    """What the coder has chosen for the current item before deciding."""

    codes: list[str] = field(default_factory=list)
    ruled_out: list[str] = field(default_factory=list)
    note: str | None = None
    certainty: int | None = None


def resolve_codes(text: str, catalogue: Catalogue) -> tuple[list[str], list[str], list[str]]:
    """Parse ``"code_a, training gap, -joint"`` into (applied, ruled out, not understood).

    Each comma-separated term is a code id, or words that match exactly one code's name/id/theme.
    """
    applied: list[str] = []
    ruled_out: list[str] = []
    unknown: list[str] = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        target = ruled_out if term.startswith("-") else applied
        term = term.lstrip("-").strip().lower()
        match = _match_code(term, catalogue.codes)
        if match is None:
            unknown.append(term)
        elif match.key not in target:
            target.append(match.key)
    return applied, ruled_out, unknown


def _match_code(term: str, codes: list[CodeInfo]) -> CodeInfo | None:
    for code in codes:
        if term in (code.key.lower(), code.name.lower()):
            return code
    words = term.split()
    hits = [c for c in codes if all(w in f"{c.key} {c.name} {c.theme_name}".lower() for w in words)]
    return hits[0] if len(hits) == 1 else None


def code_table(catalogue: Catalogue) -> Table:
    """Every code by theme, so a coder can find the id or words to type after ``c``."""
    table = Table(title="Codes", show_lines=False, expand=False)
    table.add_column("theme", style="dim")
    table.add_column("id", style="bold")
    table.add_column("name")
    previous = None
    for code in catalogue.codes:
        table.add_row(code.theme_name if code.theme_name != previous else "", code.key, code.name)
        previous = code.theme_name
    return table


def render_item(view: ItemView, pending: _Pending) -> Group:
    """The item as rich renderables: context turns, the highlighted segment, the suggestion and rules."""
    meta = (
        f"segment {view.segment_id} · transcript #{view.transcript_id} · site {view.site_code or '-'} · "
        f"{view.participant_role or '-'} · {view.interview_date.isoformat() if view.interview_date else '-'}"
    )
    turns = Text()
    for turn in view.turns:
        label = turn.speaker if turn.speaker.lower() == turn.role.lower() else f"{turn.speaker} ({turn.role})"
        turns.append(f"{label}: ", style="bold" if turn.is_current else "dim bold")
        if turn.is_current:
            turns.append(turn.before)
            turns.append(turn.segment, style="black on yellow")
            turns.append(turn.after)
        else:
            turns.append(turn.text, style="dim")
        turns.append("\n\n")
    turns.rstrip()
    parts: list[object] = [Panel(turns, title="BLIND CODING" if view.is_blind else "Suggestion review",
                                 subtitle=meta, border_style="magenta" if view.is_blind else "blue")]
    if view.suggestion is not None:
        s = view.suggestion
        body = Text()
        body.append(f"{s.code.name}", style="bold")
        body.append(f"  ({s.code.theme_name})  ")
        body.append(f"{s.probability:.0%}", style="bold cyan")
        if s.cold_start:
            body.append("  cold start", style="yellow")
        body.append(f"\n{s.code.definition}\n")
        for rule in s.code.include:
            body.append(f"  + {rule}\n", style="green")
        for rule in s.code.exclude:
            body.append(f"  - {rule}\n", style="red")
        if s.similar:
            body.append("Similar segments already coded with it:\n", style="dim")
            for sim in s.similar:
                body.append(f"  • {sim.text} ({sim.score:.2f})\n", style="dim")
        if view.group_size:
            body.append(f"{view.group_size} near-duplicate(s): b accepts them all\n", style="cyan")
        parts.append(Panel(body, title="Suggested code"))
    chosen = Table.grid(padding=(0, 1))
    if pending.codes or pending.ruled_out or pending.note or pending.certainty:
        chosen.add_row("codes:", ", ".join(pending.codes) or "-", "ruled out:", ", ".join(pending.ruled_out) or "-")
        chosen.add_row("certainty:", str(pending.certainty or "-"), "note:", "yes" if pending.note else "-")
        parts.append(chosen)
    parts.append(Text(HELP_BLIND if view.is_blind else HELP_REVIEW, style="dim"))
    return Group(*parts)  # type: ignore[arg-type]


def run_review(
    url: str, settings: Settings, reviewer: Reviewer, keys: KeySource, console: Console
) -> ReviewSummary:
    """Review items until the queue is empty, input ends, or the coder presses ``q``."""
    summary = ReviewSummary()
    last_segment: int | None = None
    while True:
        with session_scope(url, immediate=True) as db:
            item = lease_next(db, reviewer, settings, prefer_segment=last_segment)
            item_id = item.id if item is not None else None
        if item_id is None:
            console.print("[green]Nothing waiting for you.[/green]")
            return summary
        with session_scope(url) as db:
            catalogue = load_catalogue(db, settings.codebook_path)
            leased = db.get(ReviewItem, item_id)
            assert leased is not None
            view = build_item_view(db, leased, catalogue, embedding_identity=settings_identity(settings),
                                   group_size=group_size(db, leased, reviewer))
        with lease_heartbeat(url, item_id, reviewer, settings):
            outcome = _decide_one(url, settings, reviewer, view, catalogue, keys, console, summary)
        last_segment = view.segment_id if outcome not in ("skip", "blind", "quit", "conflict") else None
        if outcome == "quit":
            # Leaving hands held items straight back instead of making others wait for the leases to expire.
            with session_scope(url, immediate=True) as db:
                release_all(db, reviewer)
            return summary


@contextlib.contextmanager
def lease_heartbeat(url: str, item_id: int, reviewer: Reviewer, settings: Settings) -> Iterator[threading.Event]:
    """Renew the lease on ``item_id`` every third of ``lease_seconds`` until the block ends.

    Yields an event that is set when a renewal finds the lease gone (expired and taken, or the item
    withdrawn): the coder's decision will then be refused by the version check, as on the web page. A
    failed renewal (database busy) is retried on the next beat, never raised into the review loop.
    """
    stop, lost = threading.Event(), threading.Event()
    interval = max(1.0, settings.lease_seconds / 3)

    def beat() -> None:
        while not stop.wait(interval):
            try:
                with session_scope(url) as db:
                    kept = renew_lease(db, item_id, reviewer, settings)
            except SQLAlchemyError as exc:  # a busy database must not end the coder's session
                log.warning("lease renewal failed (%s); retrying on the next beat", type(exc).__name__)
                continue
            if not kept:
                lost.set()
                return

    thread = threading.Thread(target=beat, name=f"lease-heartbeat-{item_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=interval + 5)


def _decide_one(
    url: str, settings: Settings, reviewer: Reviewer, view: ItemView, catalogue: Catalogue,
    keys: KeySource, console: Console, summary: ReviewSummary,
) -> str:
    """Read keys for one item until it is decided, skipped or undone (or input ends)."""
    pending = _Pending()
    console.print(render_item(view, pending))
    while True:
        key = keys.key()
        if key is None or key == "q":
            return "quit"
        # Keys that only gather input never open a transaction: no lock is held while the coder types.
        action = _read_choice(key, view, pending, catalogue, keys, console)
        if action is None:
            continue
        try:
            with session_scope(url, immediate=True) as db:
                _apply(db, action, view, pending, reviewer, settings, catalogue)
        except ConflictError as exc:
            summary.conflicts += 1
            console.print(f"[red]{escape(str(exc))}[/red] - moving on.")
            return "conflict"
        except ReviewError as exc:
            console.print(f"[red]{escape(str(exc))}[/red]")
            continue
        summary.actions.append(action)
        if action == "skip":
            summary.skipped += 1
        elif action == "undo":
            summary.undone += 1
        else:
            summary.decided += 1
        console.print(f"[green]{action}[/green]")
        return action


_REVIEW_KEYS = {"a": "accept", "r": "reject", "b": "bulk_accept", "s": "skip", "u": "undo"}
_BLIND_KEYS = {"a": "blind", "s": "skip", "u": "undo"}


def _read_choice(
    key: str, view: ItemView, pending: _Pending, catalogue: Catalogue, keys: KeySource, console: Console
) -> str | None:
    """Update ``pending`` for input keys; return the action a key triggers, or None to keep reading."""
    if key in "12345":
        pending.certainty = int(key)
        console.print(f"certainty {key}")
        return None
    if key == "n":
        pending.note = keys.line("note: ") or None
        return None
    if key == "l":
        console.print(code_table(catalogue))
        return None
    if key in ("c", "/"):
        text = keys.line("codes (id or words, comma-separated; -code = considered, not applied): ") or ""
        applied, ruled_out, unknown = resolve_codes(text, catalogue)
        if unknown:
            # What the coder typed is not markup: "[/]" would otherwise end the session with a MarkupError.
            console.print(f"[yellow]no single code matches: {escape(', '.join(unknown))}[/yellow]")
        pending.codes = list(dict.fromkeys(pending.codes + applied))
        pending.ruled_out = [c for c in dict.fromkeys(pending.ruled_out + ruled_out) if c not in pending.codes]
        console.print(f"codes: {', '.join(pending.codes) or '-'}; ruled out: {', '.join(pending.ruled_out) or '-'}")
        return "recode" if not view.is_blind and pending.codes else None
    return (_BLIND_KEYS if view.is_blind else _REVIEW_KEYS).get(key)


def _apply(
    db: Session, action: str, view: ItemView, pending: _Pending, reviewer: Reviewer, settings: Settings,
    catalogue: Catalogue,
) -> None:
    known = {c.key for c in catalogue.codes} or None
    extras = {"note": pending.note, "certainty": pending.certainty}
    if action == "skip":
        skip(db, view.item_id, view.version, reviewer)
    elif action == "undo":
        undo_last(db, reviewer, settings)
    elif action == "blind":
        submit_blind(db, view.item_id, view.version, reviewer, pending.codes, pending.ruled_out,
                     known_codes=known, **extras)
    elif action == "bulk_accept":
        bulk_accept(db, view.item_id, view.version, reviewer, **extras)
    else:
        decide_review(db, view.item_id, view.version, reviewer, action, codes=pending.codes,
                      known_codes=known, **extras)


@contextlib.contextmanager
def keys_for(console: Console, keys: str | None, stream: TextIO | None = None) -> Iterator[KeySource]:
    """A ``--keys`` string, piped standard input, or the interactive terminal, in that order."""
    stream = stream or sys.stdin
    if keys is not None:
        yield StreamKeys(keys)
    elif stream.isatty():
        yield TtyKeys(console, stream)
    else:
        yield StreamKeys(stream)
