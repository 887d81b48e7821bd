"""Safeguarding-grade anonymisation for UK research interviews.

Public API (what the batch flow and the commands call)::

    anon = build_anonymiser(settings)
    res = anon.anonymise(text, pseudonyms=store)            # AnonymisationResult(text, spans)
    doc = anon.anonymise_document(raw_doc, pseudonyms=store) # AnonymisedDocument(text, turns, spans)
    store = DatabasePseudonymStore(session, keyring)         # or InMemoryPseudonymStore()
    record_events(session, transcript_id, doc, review_threshold,
                  originals=encrypted_originals(raw_doc, doc, keyring))  # lets an undo restore the words

Detection is Presidio's (``recognizers/``); allow/deny lists, merging, propagation and pseudonyms are
ours (``anonymiser.py``, ``pseudonyms.py``); the key and the encrypted map live in ``keys.py``.
"""

from pipeline.anonymise.anonymiser import Anonymiser, Detection
from pipeline.anonymise.factory import build_anonymiser, project_terms
from pipeline.anonymise.keys import Keyring, init_key_file, load_keyring
from pipeline.anonymise.pseudonyms import DatabasePseudonymStore, InMemoryPseudonymStore, PseudonymStore
from pipeline.anonymise.retention import apply_retention
from pipeline.anonymise.review import decide, encrypted_originals, list_for_review, record_events, restore_original
from pipeline.anonymise.types import AnonymisationResult, AnonymisedDocument, AnonymisedTurn, Span

__all__ = [
    "AnonymisationResult",
    "AnonymisedDocument",
    "AnonymisedTurn",
    "Anonymiser",
    "DatabasePseudonymStore",
    "Detection",
    "InMemoryPseudonymStore",
    "Keyring",
    "PseudonymStore",
    "Span",
    "apply_retention",
    "build_anonymiser",
    "decide",
    "encrypted_originals",
    "init_key_file",
    "list_for_review",
    "load_keyring",
    "project_terms",
    "record_events",
    "restore_original",
]
