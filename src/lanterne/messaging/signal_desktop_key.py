"""The SQLCipher key of a Signal Desktop profile, from ``config.json`` and what the examiner knows.

Signal Desktop encrypts ``sql/db.sqlite`` with SQLCipher 4 and a raw 32-byte key
(``PRAGMA key = "x'<64 hex>'"``). ``config.json`` keeps that key in one of two forms:

``"key": "<64 hex>"``
    Older profiles, and Linux with the ``basic_text`` safe-storage backend: the key itself.

``"encryptedKey": "<hex>"``
    The 64 hex characters encrypted by Electron's ``safeStorage`` (Chromium's OSCrypt). The
    hex-decoded blob starts with a three-byte version prefix:

    * ``v10`` on macOS: AES-128-CBC, IV = 16 spaces, PKCS#7, key =
      PBKDF2-HMAC-SHA1(password, ``saltysalt``, 1003 iterations, 16 bytes); the password is the
      login-keychain item ``Signal Safe Storage`` (``Signal Beta Safe Storage`` for beta builds).
    * ``v11`` on Linux: the same cipher with **one** PBKDF2 iteration; the password comes from the
      secret service (libsecret, ``application=Signal``) or KWallet (``Chromium Keys`` /
      ``Chromium Safe Storage``). ``config.json`` names the backend in ``safeStorageBackend``.
    * ``v10`` on Linux: one iteration with the fixed password ``peanuts`` (Chromium also knows an
      empty-password variant, tried too).
    * ``v10`` on Windows: AES-256-GCM, a 12-byte nonce after the prefix and the 16-byte tag at
      the end. The 32-byte AES key is ``Local State`` → ``os_crypt.encrypted_key`` (base64,
      ``DPAPI`` prefix) unwrapped with the user's DPAPI secrets, which this tool cannot do: the
      examiner supplies the unwrapped key.

    The CBC and GCM forms are told apart by length: a CBC blob is the prefix plus whole 16-byte
    blocks, a GCM blob of the 64-character key is 3 + 12 + 64 + 16 bytes.

:func:`desktop_key` tries what applies, checks every candidate against the first page of the
database (see :func:`key_opens_database`) and says exactly which secret is missing or wrong.
Nothing here writes into the profile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lanterne.errors import CorruptData, UserError

__all__ = [
    "MissingSecret",
    "WrongSecret",
    "chromium_cbc_decrypt",
    "chromium_cbc_encrypt",
    "chromium_cbc_key",
    "desktop_key",
    "key_opens_database",
    "windows_local_state_blob",
]

SALT = b"saltysalt"
CBC_IV = b" " * 16
MACOS_ITERATIONS = 1003
LINUX_ITERATIONS = 1
LINUX_V10_PASSWORDS = ("peanuts", "")
"""Chromium's fixed Linux ``v10`` password, and its empty-password variant."""

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_GCM_NONCE = 12
_GCM_TAG = 16
_MAX_CONFIG = 1 << 20  # config.json is a few hundred bytes; refuse to slurp a hostile giant
_MAX_KEY_FILE = 4096

PASSWORD_HELP = (
    "--password: on macOS the login-keychain password of 'Signal Safe Storage' "
    "(security find-generic-password -ws 'Signal Safe Storage'), on Linux the secret-service "
    "(GNOME keyring / libsecret, application=Signal) or KWallet ('Chromium Keys' / "
    "'Chromium Safe Storage') password"
)
KEY_HELP = (
    "--key <64 hex> (or --key-file) with the database key itself, or on Windows with the "
    "32-byte key unwrapped with DPAPI from 'Local State' os_crypt.encrypted_key"
)


class MissingSecret(UserError):
    """The profile's key cannot be had without a secret the examiner has not supplied."""


class WrongSecret(UserError):
    """A secret was supplied (or found in ``config.json``) but does not give the database key."""


@dataclass(frozen=True)
class _Supplied:
    key: bytes
    origin: str  # "--key" or "--key-file"


def chromium_cbc_key(password: str, iterations: int) -> bytes:
    """The AES-128 key Chromium's OSCrypt derives from a safe-storage password."""
    return hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), SALT, iterations, 16)


def chromium_cbc_encrypt(plaintext: bytes, password: str, iterations: int, prefix: bytes) -> bytes:
    """``prefix`` ‖ AES-128-CBC(PKCS#7) as OSCrypt writes it (used by the synthetic profiles)."""
    pad = 16 - len(plaintext) % 16
    enc = Cipher(algorithms.AES(chromium_cbc_key(password, iterations)), modes.CBC(CBC_IV))
    e = enc.encryptor()
    return prefix + e.update(plaintext + bytes([pad]) * pad) + e.finalize()


def chromium_cbc_decrypt(blob: bytes, password: str, iterations: int) -> bytes | None:
    """The plaintext of an OSCrypt CBC blob (prefix included in ``blob``), None when the
    password is wrong (the PKCS#7 padding does not check)."""
    body = blob[3:]
    if not body or len(body) % 16:
        return None
    d = Cipher(algorithms.AES(chromium_cbc_key(password, iterations)), modes.CBC(CBC_IV))
    dec = d.decryptor()
    padded = dec.update(body) + dec.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        return None
    return padded[:-pad]


def _gcm_decrypt(blob: bytes, key: bytes) -> bytes | None:
    nonce, sealed = blob[3 : 3 + _GCM_NONCE], blob[3 + _GCM_NONCE :]
    if len(nonce) != _GCM_NONCE or len(sealed) < _GCM_TAG:
        return None
    try:
        return AESGCM(key).decrypt(nonce, sealed, None)
    except InvalidTag:
        return None


def _as_key_hex(plaintext: bytes | None) -> str | None:
    """The decrypted ``encryptedKey`` must be the 64-hex ASCII key."""
    if plaintext is None:
        return None
    try:
        text = plaintext.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text.lower() if _HEX64.fullmatch(text) else None


# --- checking a key against the database without opening it -----------------------------------

# SQLCipher 4 defaults: 4096-byte pages, a reserve of IV (16) + HMAC-SHA512 (64) at the end of
# every page, HMAC key = PBKDF2-HMAC-SHA512(raw key, salt XOR 0x3a, 2 iterations, 32 bytes).
# Page 1 starts with the 16-byte salt; its HMAC covers bytes 16 .. end of IV, then the page
# number (little-endian). Other page sizes are tried for databases created with a custom one.
_PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536)
_RESERVE = 16 + 64
_WAL_HEADER = 32
_WAL_FRAME_HEADER = 24


def _page_hmac_ok(page: bytes, key: bytes) -> bool:
    salt = page[:16]
    hmac_key = hashlib.pbkdf2_hmac("sha512", key, bytes(b ^ 0x3A for b in salt), 2, 32)
    end = len(page) - _RESERVE + 16
    mac = hmac.new(hmac_key, page[16:end] + (1).to_bytes(4, "little"), "sha512").digest()
    return hmac.compare_digest(mac, page[end : end + 64])


def _first_page_candidates(db: Path) -> list[bytes]:
    """Page 1 as the main file holds it, else (a database never checkpointed) from the WAL."""
    pages: list[bytes] = []
    with db.open("rb") as f:
        head = f.read(max(_PAGE_SIZES))
    pages += [head[:size] for size in _PAGE_SIZES if len(head) >= size]
    wal = db.with_name(db.name + "-wal")
    if not pages and wal.is_file():
        with wal.open("rb") as f:
            header = f.read(_WAL_HEADER)
            if len(header) == _WAL_HEADER:
                size = int.from_bytes(header[8:12], "big")
                while size in _PAGE_SIZES:
                    frame = f.read(_WAL_FRAME_HEADER + size)
                    if len(frame) < _WAL_FRAME_HEADER + size:
                        break
                    if int.from_bytes(frame[:4], "big") == 1:
                        pages.append(frame[_WAL_FRAME_HEADER:])
    return pages


def key_opens_database(db: Path, key_hex: str) -> bool | None:
    """Whether ``key_hex`` is the SQLCipher key of ``db``: True, False, or None when it cannot
    be told (no database, or no complete first page). Reads the file, never opens it as a
    database (which could replay its WAL)."""
    if not db.is_file():
        return None
    pages = _first_page_candidates(db)
    if not pages:
        return None
    key = bytes.fromhex(key_hex)
    return any(_page_hmac_ok(page, key) for page in pages)


# --- what the examiner supplies --------------------------------------------------------------


def _normalise_hex(value: str) -> str | None:
    text = value.strip()
    if text[:2] in ("x'", "X'") and text.endswith("'"):
        text = text[2:-1]
    elif text[:2] in ("0x", "0X"):
        text = text[2:]
    return text.lower() if _HEX64.fullmatch(text) else None


def _supplied(key_hex: str | None, key_file: Path | None) -> list[_Supplied]:
    out: list[_Supplied] = []
    if key_hex is not None:
        norm = _normalise_hex(key_hex)
        if norm is None:
            raise WrongSecret(
                "--key must be 64 hexadecimal characters (32 bytes): the database key or, on "
                "Windows, the key unwrapped with DPAPI from 'Local State'"
            )
        out.append(_Supplied(bytes.fromhex(norm), "--key"))
    if key_file is not None:
        try:
            with key_file.open("rb") as f:
                data = f.read(_MAX_KEY_FILE + 1)
        except OSError as exc:
            raise UserError(f"cannot read --key-file {key_file}: {exc.strerror}") from exc
        if len(data) == 32:
            out.append(_Supplied(data, "--key-file"))
        else:
            try:
                norm = _normalise_hex(data.decode("ascii")) if len(data) <= _MAX_KEY_FILE else None
            except UnicodeDecodeError:
                norm = None
            if norm is None:
                raise WrongSecret(
                    f"--key-file {key_file} must hold the key as 32 raw bytes or as 64 "
                    "hexadecimal characters"
                )
            out.append(_Supplied(bytes.fromhex(norm), "--key-file"))
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with path.open("rb") as f:
        data = f.read(_MAX_CONFIG + 1)
    if len(data) > _MAX_CONFIG:
        raise CorruptData("bad-config", f"{path.name} is larger than {_MAX_CONFIG} bytes")
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptData("bad-config", f"{path.name} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CorruptData("bad-config", f"{path.name} is not a JSON object")
    return value


def windows_local_state_blob(profile: Path) -> bytes | None:
    """``os_crypt.encrypted_key`` of ``Local State`` without its ``DPAPI`` prefix: what DPAPI
    must unwrap into the 32-byte key the examiner passes with ``--key``."""
    state = _read_json(profile / "Local State")
    os_crypt = state.get("os_crypt") if state else None
    value = os_crypt.get("encrypted_key") if isinstance(os_crypt, dict) else None
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        return None
    return raw[5:] if raw.startswith(b"DPAPI") else raw


# --- the key ---------------------------------------------------------------------------------


def desktop_key(
    profile: Path,
    *,
    key_hex: str | None = None,
    password: str | None = None,
    key_file: Path | None = None,
) -> str:
    """The 64-hex SQLCipher key of the Signal Desktop profile folder ``profile``.

    ``key_hex`` / ``key_file`` carry either the database key itself or, for a Windows profile,
    the AES key unwrapped with DPAPI; ``password`` is the macOS keychain or Linux secret-service
    password. A supplied key that opens the database wins. Raises :class:`MissingSecret` when a
    secret is needed and not given, :class:`WrongSecret` when what was given (or found) does not
    open the database; both say which option to pass.
    """
    db = profile / "sql" / "db.sqlite"
    supplied = _supplied(key_hex, key_file)
    unknown: list[_Supplied] = []
    for s in supplied:
        verdict = key_opens_database(db, s.key.hex())
        if verdict:
            return s.key.hex()
        if verdict is None:
            unknown.append(s)

    rejected = (
        f"the key given with {', '.join(s.origin for s in supplied)} does not open {db}; "
        if supplied and not unknown
        else ""
    )

    def accept(candidate: str, how: str) -> str:
        if key_opens_database(db, candidate) is False:
            raise WrongSecret(
                f"the key {how} does not open {db} (the database or config.json was replaced "
                f"or damaged); pass the database key with {KEY_HELP}"
            )
        return candidate

    config = _read_json(profile / "config.json")
    if config is None or ("key" not in config and "encryptedKey" not in config):
        if unknown:
            return unknown[0].key.hex()  # no database to check it against: take it as given
        where = "no config.json" if config is None else "config.json holds no key"
        if supplied:
            raise WrongSecret(
                f"{where} in {profile} and the key given with "
                f"{', '.join(s.origin for s in supplied)} does not open {db}; pass the right "
                f"database key with {KEY_HELP}"
            )
        raise MissingSecret(f"{where} in {profile}: pass the database key with {KEY_HELP}")

    if "key" in config:
        plain = config["key"]
        norm = _normalise_hex(plain) if isinstance(plain, str) else None
        if norm is None:
            raise CorruptData("bad-config", "config.json 'key' is not 64 hexadecimal characters")
        return accept(norm, "in config.json ('key')")

    value = config["encryptedKey"]
    try:
        blob = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        blob = b""
    if len(blob) < 3 + 16:
        raise CorruptData("bad-config", "config.json 'encryptedKey' is not a hex OSCrypt blob")
    prefix = blob[:3]
    backend = config.get("safeStorageBackend")

    if prefix == b"v10" and (len(blob) - 3) % 16:
        # Windows: AES-256-GCM under the DPAPI-protected key of 'Local State'.
        if not supplied:
            raise MissingSecret(
                rejected
                + "this is a Windows profile: config.json 'encryptedKey' (v10, AES-256-GCM) is "
                "protected by the key in 'Local State' os_crypt.encrypted_key, which DPAPI "
                "unwraps with the Windows user's secrets; pass that unwrapped 32-byte key with "
                "--key <64 hex> or --key-file, or the database key itself with --key"
            )
        for s in supplied:
            candidate = _as_key_hex(_gcm_decrypt(blob, s.key))
            if candidate is not None:
                return accept(candidate, f"decrypted from config.json with {s.origin}")
        raise WrongSecret(
            f"the key given with {', '.join(s.origin for s in supplied)} neither opens {db} "
            "nor decrypts config.json 'encryptedKey' (Windows v10, AES-256-GCM): pass the "
            "32-byte key unwrapped with DPAPI from 'Local State' os_crypt.encrypted_key, or "
            "the database key, with --key / --key-file"
        )

    if prefix == b"v11":
        tries = [(password, LINUX_ITERATIONS)] if password is not None else []
        tries.append(("", LINUX_ITERATIONS))
        for pw, iterations in tries:
            candidate = _as_key_hex(chromium_cbc_decrypt(blob, pw, iterations))
            if candidate is not None:
                return accept(candidate, "decrypted from config.json 'encryptedKey' (v11)")
        backend_text = f" (safeStorageBackend {backend!r})" if isinstance(backend, str) else ""
        if password is None:
            raise MissingSecret(
                rejected
                + "config.json 'encryptedKey' is a Linux v11 blob"
                + backend_text
                + ": it needs "
                "the secret-service (GNOME keyring / libsecret, application=Signal) or KWallet "
                "('Chromium Keys' / 'Chromium Safe Storage') password: pass it with --password, "
                f"or pass the database key with {KEY_HELP}"
            )
        raise WrongSecret(
            "the password given with --password does not decrypt config.json 'encryptedKey' "
            "(Linux v11" + backend_text + "): pass the secret-service or KWallet password of "
            f"this user with --password, or the database key with {KEY_HELP}"
        )

    if prefix == b"v10":
        tries = [(pw, LINUX_ITERATIONS) for pw in LINUX_V10_PASSWORDS]
        if password is not None:
            tries[:0] = [(password, MACOS_ITERATIONS), (password, LINUX_ITERATIONS)]
        for pw, iterations in tries:
            candidate = _as_key_hex(chromium_cbc_decrypt(blob, pw, iterations))
            if candidate is not None:
                return accept(candidate, "decrypted from config.json 'encryptedKey' (v10)")
        if isinstance(backend, str):
            raise WrongSecret(
                f"config.json 'encryptedKey' is a Linux v10 blob (safeStorageBackend "
                f"{backend!r}) but neither the fixed password 'peanuts' nor the empty one"
                + (" nor the one given with --password" if password is not None else "")
                + f" decrypts it; pass the database key with {KEY_HELP}"
            )
        if password is None:
            raise MissingSecret(
                rejected
                + "config.json 'encryptedKey' is a macOS v10 blob: it needs the login-keychain "
                "password of 'Signal Safe Storage' ('Signal Beta Safe Storage' for beta "
                "builds; security find-generic-password -ws 'Signal Safe Storage'): pass it "
                f"with --password, or pass the database key with {KEY_HELP}"
            )
        raise WrongSecret(
            "the password given with --password does not decrypt config.json 'encryptedKey' "
            "(macOS v10): pass the keychain password of 'Signal Safe Storage' with "
            f"--password, or the database key with {KEY_HELP}"
        )

    raise CorruptData(
        "unknown-key-format",
        f"config.json 'encryptedKey' starts with {prefix!r}, not v10/v11; pass the database "
        f"key with {KEY_HELP}",
    )
