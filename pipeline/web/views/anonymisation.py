"""Anonymisation review for the key holder: held transcripts, their doubtful maskings, and the release.

Why a page of its own, for the key holder only: deciding whether a doubtful masking hid a person needs the
words it hid, and only the key holder may see those (``require_key_holder``; every view of them is
audited by ``pipeline.anonymise.release.doubtful_maskings``). Coders never reach a held transcript: every
coder-facing query filters through ``pipeline.store.visibility``.

Keys on the transcript page (``static/anonymisation.js``): ``k`` keeps the current masking, ``u`` unmasks
it (the words go back into the stored text), ``j``/``n`` move to the next one, ``m`` masks the words
selected in the transcript. Every action is a plain form POST answered by a redirect (PRG), so the page
works without scripts too, except selecting words to mask.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from pipeline.anonymise.keys import Keyring, load_keyring
from pipeline.anonymise.release import (
    MASKABLE_ENTITIES,
    doubtful_maskings,
    held_transcripts,
    mask_missed,
    may_force,
    release_transcript,
    text_version,
)
from pipeline.anonymise.review import decide
from pipeline.errors import KeyMissingError, ReviewError
from pipeline.store.db import session_scope
from pipeline.store.models import AnonymisationEvent, Transcript
from pipeline.store.visibility import HELD
from pipeline.web.auth import CurrentUser, require_key_holder
from pipeline.web.nav import NavLink
from pipeline.web.params import Count, Id, count_form
from pipeline.web.templating import flash, render

router = APIRouter()
NAV = [NavLink("Anonymisation", "/anonymisation", order=60, key_holder_only=True)]
ACTIONS = {"keep": "confirm", "unmask": "undo"}


@dataclass(frozen=True)
class Piece:
    """A run of the stored transcript text: plain, or a masking (``event_id``; ``doubtful`` if undecided)."""

    text: str
    event_id: int | None = None
    doubtful: bool = False


def _url(request: Request) -> str:
    return request.app.state.db_url


def _keyring(request: Request) -> Keyring:
    try:
        return load_keyring(request.app.state.settings, create=False)
    except KeyMissingError as exc:
        detail = "the re-identification key is not available to the web app"
        raise HTTPException(status_code=503, detail=detail) from exc


def _who(user: CurrentUser) -> str:
    return f"web:{user.username}"


@router.get("/anonymisation")
def held_list(request: Request, user: CurrentUser = Depends(require_key_holder)) -> Response:
    with session_scope(_url(request)) as db:
        rows = held_transcripts(db)
    return render(request, "anonymisation/held.html", rows=rows)


def _pieces(text: str, events: list[AnonymisationEvent]) -> list[Piece]:
    """The text cut at every masking still in place (undone ones show their words again: plain text)."""
    out: list[Piece] = []
    at = 0
    for event in events:
        if event.start_char < at or event.end_char > len(text):
            continue  # overlapping or out of range: show as plain text rather than misplace a mark
        if event.start_char > at:
            out.append(Piece(text[at : event.start_char]))
        out.append(Piece(text[event.start_char : event.end_char], event.id, event.status == "needs_review"))
        at = event.end_char
    if at < len(text):
        out.append(Piece(text[at:]))
    return out


@router.get("/anonymisation/{transcript_id}")
def transcript_page(
    transcript_id: Id, request: Request, at: Count | None = None, user: CurrentUser = Depends(require_key_holder)
) -> Response:
    keyring = _keyring(request)
    with session_scope(_url(request)) as db:
        transcript = db.get(Transcript, transcript_id)
        if transcript is None:
            raise HTTPException(status_code=404, detail=f"transcript {transcript_id} does not exist")
        # Shows the key holder the words each undecided masking hid (audited in this transaction).
        maskings = doubtful_maskings(db, transcript_id, keyring=keyring, viewer=_who(user))
        events = list(
            db.scalars(
                select(AnonymisationEvent)
                .where(AnonymisationEvent.transcript_id == transcript_id, AnonymisationEvent.status != "undone")
                .order_by(AnonymisationEvent.start_char, AnonymisationEvent.id)
            )
        )
        text = transcript.anonymised_text or ""
        context = {
            "transcript": {"id": transcript.id, "name": transcript.source_name, "status": transcript.status},
            "held": transcript.status == HELD,
            "maskings": maskings,
            "pending": sum(1 for m in maskings if m.status == "needs_review"),
            "pieces": _pieces(text, events),
            "version": text_version(text),
            "entities": MASKABLE_ENTITIES,
            "can_force": may_force(user.role),
            "focus": at,
        }
    return render(request, "anonymisation/transcript.html", **context)


def _back(transcript_id: int, at: int | None = None) -> str:
    return f"/anonymisation/{transcript_id}" + (f"?at={at}" if at is not None else "")


@router.post("/anonymisation/{transcript_id}/events/{event_id}")
def decide_masking(
    transcript_id: Id,
    event_id: Id,
    request: Request,
    action: str = Form(...),
    user: CurrentUser = Depends(require_key_holder),
) -> Response:
    """Keep (confirm: the words join the deny list) or unmask (undo, and put the words back in the text)."""
    if action not in ACTIONS:
        raise HTTPException(status_code=400, detail=f"unknown action {action!r} (keep or unmask)")
    keyring = _keyring(request)
    settings = request.app.state.settings
    with session_scope(_url(request), immediate=True) as db:
        event = db.get(AnonymisationEvent, event_id)
        if event is None or event.transcript_id != transcript_id:
            raise HTTPException(status_code=404, detail=f"masking {event_id} is not in transcript {transcript_id}")
        decide(db, event_id, ACTIONS[action], _who(user), keyring, restore=action == "unmask",
               style=settings.pseudonym_style)
        following = db.scalar(
            select(AnonymisationEvent.id)
            .where(AnonymisationEvent.transcript_id == transcript_id, AnonymisationEvent.status == "needs_review")
            .order_by(AnonymisationEvent.start_char, AnonymisationEvent.id)
            .limit(1)
        )
    response = RedirectResponse(_back(transcript_id, following), status_code=303)
    done = (
        "Kept masked; the words join the deny list."
        if action == "keep"
        else "Unmasked: the words are back in the text."
    )
    flash(request, response, f"Masking #{event_id}: {done}", "success")
    return response


@router.post("/anonymisation/{transcript_id}/mask")
def mask_selection(
    transcript_id: Id,
    request: Request,
    start: int = count_form(),
    end: int = count_form(),
    version: str = Form(...),
    entity: str = Form("PERSON"),
    user: CurrentUser = Depends(require_key_holder),
) -> Response:
    """Mask words the anonymiser missed (offsets of the selection in the text the page showed)."""
    keyring = _keyring(request)
    settings = request.app.state.settings
    with session_scope(_url(request), immediate=True) as db:
        result = mask_missed(db, transcript_id, start, end, _who(user), entity, keyring=keyring,
                             style=settings.pseudonym_style, expected_version=version)
    response = RedirectResponse(_back(transcript_id), status_code=303)
    more = (
        f" {result.other_mentions} more mention(s) of the same words in this transcript are not masked yet."
        if result.other_mentions
        else ""
    )
    flash(request, response, f"Masked as {result.placeholder}; added to the deny list.{more}", "success")
    return response


@router.post("/anonymisation/{transcript_id}/release")
def release(
    transcript_id: Id,
    request: Request,
    force: str = Form(""),
    user: CurrentUser = Depends(require_key_holder),
) -> Response:
    forced = force == "yes"
    if forced and not may_force(user.role):
        raise HTTPException(status_code=403, detail="only a lead may release with undecided maskings")
    try:
        with session_scope(_url(request), immediate=True) as db:
            release_transcript(db, transcript_id, _who(user), force=forced)
    except ReviewError as exc:
        response = RedirectResponse(_back(transcript_id), status_code=303)
        flash(request, response, str(exc), "error")
        return response
    response = RedirectResponse("/anonymisation", status_code=303)
    flash(request, response, f"Transcript {transcript_id} released: the next batch run embeds and queues it.",
          "success")
    return response
