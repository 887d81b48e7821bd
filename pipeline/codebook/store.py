"""Store codebook versions in the database, and mark models stale when a code's meaning changes.

Why: suggestions, decisions and models all refer to a codebook *version*. Each distinct content (by
``Codebook.content_hash``) is stored once, with one ``Code`` row per code, and the newest stored version
is the active one. When a code's ``definition_hash`` differs from the one a trained model was built on,
that model's predictions for the code no longer answer the question the codebook now asks, so the code
is listed in ``ModelVersion.stale_codes`` and scored by cold start until the next retrain.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.codebook.model import Codebook
from pipeline.store.audit import audit
from pipeline.store.models import Code, CodebookVersion, ModelVersion


def store_codebook(session: Session, codebook: Codebook, actor: str = "system") -> CodebookVersion:
    """Store ``codebook`` (idempotent by content hash), make it the active version, return its row.

    Re-storing an existing version re-activates it. Every model trained on an older version gets the
    codes whose definition changed (or that were removed) added to its ``stale_codes``.

    The codebook is validated (and normalised, e.g. stripped) exactly as ``active_codebook`` will read it
    back, so nothing is stored that cannot be loaded again (``CodebookError`` instead), and the stored
    ``content_hash`` is the hash of what comes back.
    """
    codebook = Codebook.from_dict(codebook.to_dict(), source=codebook.source)
    row = session.scalar(select(CodebookVersion).where(CodebookVersion.content_hash == codebook.content_hash))
    created = row is None
    if row is None:
        try:
            # A savepoint: when another process stores the same version at the same moment (the batch and
            # a retrain both storing the configured codebook on a new project), the unique content hash
            # stops the second insert; that one then uses the first one's row instead of failing.
            with session.begin_nested():
                row = _new_version_row(codebook)
                session.add(row)
                session.flush()
        except IntegrityError:
            row = session.scalar(select(CodebookVersion).where(CodebookVersion.content_hash == codebook.content_hash))
            if row is None:  # the conflict was something else: report it
                raise
            created = False
    was_active = row.is_active and not created
    session.execute(update(CodebookVersion).where(CodebookVersion.id != row.id).values(is_active=False))
    row.is_active = True
    stale = mark_stale_models(session, codebook)
    if created or not was_active:
        audit(
            session,
            actor,
            "codebook.store" if created else "codebook.activate",
            "codebook_version",
            row.id,
            name=codebook.name,
            version=codebook.version,
            content_hash=codebook.content_hash,
            codes=len(codebook),
            models_marked_stale=stale,
        )
    return row


def _new_version_row(codebook: Codebook) -> CodebookVersion:
    row = CodebookVersion(
        name=codebook.name,
        version=codebook.version,
        content_hash=codebook.content_hash,
        content=codebook.to_dict(),
        is_active=True,
    )
    row.codes = [
        Code(
            code_key=code.id,
            theme_key=code.theme_id,
            theme_name=codebook.theme(code.theme_id).name,
            name=code.name,
            definition=code.definition,
            include=list(code.include),
            exclude=list(code.exclude),
            examples=list(code.examples),
            definition_hash=code.definition_hash,
        )
        for code in codebook.codes
    ]
    return row


def mark_stale_models(session: Session, codebook: Codebook) -> dict[str, list[str]]:
    """Set each model's ``stale_codes`` to the codes whose meaning differs in ``codebook`` (the active one).

    Stale means "changed or removed since the model's training codebook"; restoring the old wording
    clears it again. Returns ``{model version: codes newly marked stale}``.
    """
    current = codebook.definition_hashes
    changed: dict[str, list[str]] = {}
    models = session.scalars(select(ModelVersion).where(ModelVersion.codebook_id.is_not(None))).all()
    for model in models:
        trained_on = dict(
            session.execute(
                select(Code.code_key, Code.definition_hash).where(Code.codebook_id == model.codebook_id)
            ).all()
        )
        stale = sorted(key for key, digest in trained_on.items() if current.get(key) != digest)
        if stale != sorted(model.stale_codes or []):
            changed[model.version] = [key for key in stale if key not in (model.stale_codes or [])]
            model.stale_codes = stale
    return changed


def active_codebook(session: Session) -> Codebook | None:
    """The active stored codebook, rebuilt from its stored content (None when none is stored)."""
    row = session.scalar(
        select(CodebookVersion).where(CodebookVersion.is_active.is_(True)).order_by(CodebookVersion.id.desc())
    )
    if row is None:
        return None
    return Codebook.from_dict(row.content)


def codebook_row(session: Session, codebook: Codebook) -> CodebookVersion | None:
    return session.scalar(select(CodebookVersion).where(CodebookVersion.content_hash == codebook.content_hash))
