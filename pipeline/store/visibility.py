"""Which transcripts coders may see: the one filter every coder-facing query goes through.

Why one place: a transcript with doubtful maskings is stored anonymised but ``held`` until the key holder
has looked at them (``settings.release == "review"``). A name the anonymiser missed cannot be taken back
once a coder has read it, or once it is in an export or a trained model, so the review queue, the blind
sample, the "similar segments" panel, the exports, the agreement reports and the training labels all ask
here, instead of each repeating a status test that the next new status would slip past.

Fail closed: the filter lists the statuses that *are* released, so a transcript in any other state (held,
or a status added later) is invisible until someone decides otherwise.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import aliased

from pipeline.store.models import Segment, Transcript

#: Awaiting anonymisation review: stored anonymised, shown to the key holder only.
HELD = "held"
#: Statuses whose text coders, exports and training may read (the batch moves a transcript through them).
RELEASED_STATUSES: tuple[str, ...] = ("segmented", "embedded", "done")


def released_transcript_ids() -> ColumnElement[int]:
    """A subquery of the ids of released transcripts (its own alias, so it never correlates with the
    caller's query, whatever that joins)."""
    t = aliased(Transcript)
    return select(t.id).where(t.status.in_(RELEASED_STATUSES)).scalar_subquery()


def released(transcript_id: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL condition: the transcript with id ``transcript_id`` (e.g. ``Segment.transcript_id``) is released."""
    return transcript_id.in_(released_transcript_ids())


def released_segment(segment_id: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL condition: the segment with id ``segment_id`` (e.g. ``Coding.segment_id``,
    ``ReviewItem.segment_id``) belongs to a released transcript."""
    s = aliased(Segment)
    return segment_id.in_(select(s.id).where(released(s.transcript_id)).scalar_subquery())
