"""The re-identification key: Fernet encryption and HMAC look-ups, with rotation.

Why the key lives outside the database: whoever copies the database (a backup, a shared drive) must not
be able to re-identify anyone. The database holds only Fernet tokens (``encrypted_original``) and HMACs
of normalised originals (``lookup_hash``), each tagged with the id of the key that made it.

Key material comes from ``QUALCODE_KEY`` (``settings.key``) or ``settings.key_file``: one key a line, the
first one current; older lines stay readable during a rotation. The key id is derived from the key
itself, so no bookkeeping can drift out of sync with the file.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pipeline.errors import ConfigError, KeyMissingError
from pipeline.fileperms import private_folder, tighten
from pipeline.settings import Settings

_LOOKUP_CONTEXT = b"qualcode/lookup/v1"
log = logging.getLogger(__name__)


def key_id_of(key: bytes) -> str:
    """A short, stable, non-secret id for a Fernet key (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:16]


def _parse_keys(text: str, source: str) -> list[bytes]:
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        token = line.encode("ascii", errors="replace")
        try:
            Fernet(token)
        except (ValueError, TypeError):
            raise ConfigError(f"{source}:{number}: not a Fernet key (44 url-safe base64 characters)") from None
        keys.append(token)
    if not keys:
        raise KeyMissingError(f"{source}: holds no key")
    return keys


@dataclass(frozen=True)
class Keyring:
    """Current key first, older keys after. Encrypts with the current key, decrypts with any."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyMissingError("no re-identification key given")

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(current={self.key_id!r}, keys={len(self.keys)})"

    @classmethod
    def generate(cls) -> Keyring:
        return cls((Fernet.generate_key(),))

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """The keyring from ``QUALCODE_KEY`` / ``settings.key`` or ``settings.key_file``."""
        if settings.key is not None and settings.key.get_secret_value().strip():
            return cls(tuple(_parse_keys(settings.key.get_secret_value().replace(",", "\n"), "QUALCODE_KEY")))
        if settings.key_file is None:
            raise KeyMissingError(
                "no re-identification key: set QUALCODE_KEY or key_file (create one with `qualcode key init`)"
            )
        return cls.from_file(settings.key_file)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        if not path.exists():
            raise KeyMissingError(f"{path.name}: key file not found (create it with `qualcode key init`)")
        owner_only(path, "key file")
        return cls(tuple(_parse_keys(path.read_text(encoding="ascii", errors="replace"), path.name)))

    def write(self, path: Path, *, exclusive: bool = False) -> None:
        """Write the keyring to ``path`` (owner-only permissions) atomically.

        ``exclusive``: fail with ``FileExistsError`` if ``path`` exists, so two processes creating a
        project's first key can never both win (one key would then encrypt rows the file cannot open).
        """
        private_folder(path.parent)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write("# qualcode re-identification keys: first line current. Keep outside the database.\n")
                for key in self.keys:
                    handle.write(key.decode("ascii") + "\n")
            if exclusive:
                os.link(tmp, path)  # atomic, and refuses an existing file
            else:
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @property
    def key_id(self) -> str:
        return key_id_of(self.keys[0])

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key_id_of(k) for k in self.keys)

    def rotated(self) -> Keyring:
        """A keyring with a fresh current key, keeping the old ones for decryption."""
        return Keyring((Fernet.generate_key(), *self.keys))

    def current_only(self) -> Keyring:
        return Keyring(self.keys[:1])

    def encrypt(self, value: str) -> bytes:
        return Fernet(self.keys[0]).encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return MultiFernet([Fernet(k) for k in self.keys]).decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise KeyMissingError(
                "the re-identification map was encrypted with a key that is not in this keyring (wrong key?)"
            ) from None

    def encrypt_bytes(self, data: bytes) -> bytes:
        return Fernet(self.keys[0]).encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return MultiFernet([Fernet(k) for k in self.keys]).decrypt(bytes(token))
        except InvalidToken:
            raise KeyMissingError("the archive was encrypted with a key that is not in this keyring") from None

    def reencrypt(self, token: bytes) -> bytes:
        """The token re-encrypted with the current key (MultiFernet.rotate)."""
        try:
            return MultiFernet([Fernet(k) for k in self.keys]).rotate(bytes(token))
        except InvalidToken:
            raise KeyMissingError("cannot rotate a token made with an unknown key") from None

    def _lookup_key(self, key: bytes) -> bytes:
        return hmac.new(key, _LOOKUP_CONTEXT, hashlib.sha256).digest()

    def lookup_hash(self, normalised: str) -> str:
        """HMAC-SHA256 of a normalised original under the current key (hex)."""
        return hmac.new(self._lookup_key(self.keys[0]), normalised.encode("utf-8"), hashlib.sha256).hexdigest()

    def lookup_hashes(self, normalised: str) -> list[str]:
        """The HMAC under every key (finds rows written before an interrupted rotation)."""
        return [
            hmac.new(self._lookup_key(k), normalised.encode("utf-8"), hashlib.sha256).hexdigest() for k in self.keys
        ]


def owner_only(path: Path, what: str) -> None:
    """Make an existing key file owner-only (0600) if it is more open; the warning says to rotate."""
    if tighten(path, what):
        log.warning("if others could read %s %s, rotate the key (qualcode key rotate)", what, path.name)


def init_key_file(path: Path, *, overwrite: bool = False) -> Keyring:
    """Create a key file with one fresh key (refuses to overwrite an existing one unless told)."""
    ring = Keyring.generate()
    try:
        ring.write(path, exclusive=not overwrite)
    except FileExistsError:
        raise ConfigError(f"{path.name}: key file already exists (use rotation, not init, to change keys)") from None
    return ring


def default_key_path(settings: Settings) -> Path:
    """Where the key lives when neither QUALCODE_KEY nor key_file is set: ``data_dir/qualcode.key``."""
    return settings.key_file or (settings.data_dir / "qualcode.key")


def load_keyring(settings: Settings, *, create: bool = True) -> Keyring:
    """The project's keyring; on first use (no key anywhere) a key file is created next to the data.

    Why create: a fresh project must be able to run its first batch. The file is written with owner-only
    permissions and never inside the database; move it (and set ``key_file``) for real deployments.
    """
    if settings.key is not None and settings.key.get_secret_value().strip():
        return Keyring.from_settings(settings)
    path = default_key_path(settings)
    if not path.exists():
        if not create:
            raise KeyMissingError(f"{path.name}: key file not found (create it with `qualcode key init`)")
        try:
            ring = init_key_file(path)
        except ConfigError:
            return Keyring.from_file(path)  # another worker created it a moment ago: use theirs
        log.warning("no re-identification key found: created a new key file %s", path.name)
        return ring
    return Keyring.from_file(path)
