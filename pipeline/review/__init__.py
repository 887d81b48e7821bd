"""The coders' review queue: accounts, leases, blind double-coding and decisions.

The batch flow calls ``enqueue_suggestions`` and ``assign_blind_sample`` after suggesting; the web app
(``pipeline.web``) and ``qualcode review`` hand items out with ``lease_next`` and record decisions with
``decide_review``, ``submit_blind``, ``bulk_accept``, ``skip`` and ``undo_last``.
"""

from pipeline.review.accounts import create_demo_users, create_user
from pipeline.review.blind import assign_blind_sample
from pipeline.review.decisions import bulk_accept, decide_review, skip, submit_blind, undo_last
from pipeline.review.queue import ActingUser, enqueue_suggestions, lease_next, queue_stats, release_all

__all__ = [
    "ActingUser",
    "assign_blind_sample",
    "bulk_accept",
    "create_demo_users",
    "create_user",
    "decide_review",
    "enqueue_suggestions",
    "lease_next",
    "queue_stats",
    "release_all",
    "skip",
    "submit_blind",
    "undo_last",
]
