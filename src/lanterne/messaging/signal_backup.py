"""Signal Android on-device backups (``signal-YYYY-MM-DD-hh-mm-ss.backup``): decrypt, restore, read.

The file format (Signal-Android ``FullBackupExporter`` and ``BackupFrameOutputStream``):

* The file is a sequence of *frames*. The first is plaintext: a 4-byte big-endian length, then a
  protobuf ``BackupFrame { header = 1 }`` with ``Header { iv = 1 (16 bytes), salt = 2 (32
  bytes), version = 3 }``; version 0 (field absent) or 1.
* Keys: ``p`` = the 30-digit passphrase's digits as ASCII; ``h = p``; round 1 hashes
  SHA-512(salt ‖ h ‖ p), each of the 249,999 later rounds SHA-512(h ‖ p); the backup key is the
  first 32 bytes of ``h``. HKDF-SHA256 (no salt, info ``"Backup Export"``, 64 bytes) gives the
  AES-256 key (bytes 0–31) and the HMAC-SHA256 key (32–63).
* Every later frame and every attachment blob takes the next value of a 32-bit counter that
  starts at the first four bytes of the header IV: its own AES-256-CTR stream starts at the IV
  with the counter written big-endian into bytes 0–3 (the 128-bit block then counts up as usual).
* Frame, version 1: 4 bytes of length (the encoded frame's size + 10) encrypted with the first
  four keystream bytes, the frame encrypted with the rest of the same stream, then a 10-byte MAC
  = HMAC-SHA256(MAC key, encrypted length ‖ frame ciphertext)[:10]. Version 0: the length is in
  plaintext and the MAC covers the frame ciphertext only.
* ``BackupFrame { header = 1, statement = 2, preference = 3, attachment = 4, version = 5,
  end = 6, avatar = 7, sticker = 8, keyValue = 9 }``. After the header come the database version
  (``DatabaseVersion { version = 1 }``: the app database's ``user_version``), every ``CREATE``
  statement of its ``sqlite_master``, then table by table one ``INSERT INTO t VALUES (?, …)``
  per row (``SqlStatement { statement = 1, parameters = 2 }``, parameters ``SqlParameter {
  stringParamter = 1, integerParameter = 2 (uint64: Java longs in two's complement),
  doubleParameter = 3, blobParameter = 4, nullparameter = 5 }``), shared preferences, key-value
  entries (``KeyValue { key = 1, blobValue = 2, booleanValue = 3, floatValue = 4, integerValue =
  5, longValue = 6, stringValue = 7 }``), avatars, and the ``end`` frame.
* ``Attachment { rowId = 1, attachmentId = 2, length = 3 }``, ``Sticker { rowId = 1, length =
  2 }`` and ``Avatar { name = 1, length = 2, recipientId = 3 }`` frames are each followed by a
  *blob*: ``length`` bytes encrypted under the next counter value, then 10 bytes of
  HMAC-SHA256(MAC key, IV ‖ ciphertext). An attachment's frame follows its ``attachment`` row.

:func:`open_backup` reads the file once, start to end, never writing to it: it checks every
frame's MAC (the first encrypted frame failing means a wrong passphrase: :class:`WrongPassphrase`),
replays the statements into a fresh SQLite database ``workdir/signal-backup.sqlite`` (one
transaction; consecutive identical ``INSERT`` statements batched with ``executemany``), checks each
blob's MAC without decrypting it and records where it lies in the table ``lanterne_blob``, so that
an attachment is decrypted later by random access (CTR: seek, start the stream at its counter)
and plaintext is never stored. A truncated file, or a frame whose MAC fails later on, stops the
restore there: what came before is kept and a :class:`ChatWarning` says where it stopped.

The app's indexes, triggers and full-text tables are not replayed (they hold no evidence, and
triggers would rewrite rows during the replay): their statements are kept in
``lanterne_skipped_statement``, and :meth:`SignalBackup.create_app_indexes` builds the indexes on
demand. Other tables of the restore: ``lanterne_backup`` (what the header said, counts),
``lanterne_key_value``, ``lanterne_preference``, ``lanterne_warning``.

:meth:`SignalBackup.records` then reads the restored database as
:mod:`lanterne.messaging.records`:

* an :class:`Account` per ``recipient`` row of a person (not a group, distribution list or call
  link), ``recipient/<_id>``; the device owner is the one whose ACI is the backup's KeyValue
  ``account.aci`` (failing that, whose number is ``account.e164``; failing both, nobody);
* a :class:`Group` per ``groups`` row, ``group/<_id>``, keyed ``signal-v2:<hex of the 32-byte
  id>`` (``__signal_group__v2__!<hex>``) or ``signal-v1:<hex>`` (``__textsecure_group__!<hex>``);
* a :class:`Member` per membership, ``group/<_id>/member/<recipient _id>``: the rows of
  ``group_membership`` are members; ``groups.decrypted_group`` (the group state, a
  ``DecryptedGroup`` protobuf) makes those with the administrator role ``admin`` and adds the
  invited (``pending``), those asking to join (``requesting``) and the ``banned``, when they have
  a recipient row;
* a :class:`Message` per message row in ``_id`` order, ``message/<_id>``: ``type & 0x1F`` = 20
  is ``incoming`` (sender: ``from_recipient_id``), 21–26 ``outgoing`` (sender: the owner), the
  call types ``call``, rows with the group-update bit ``group-update``, anything else
  ``other``; in a group's thread ``group_ref``, else ``peer_ref`` = the thread's recipient;
  times from milliseconds to aware UTC. Its attachments (``message/<mid>/attachment/<_id>``)
  open by random access into the backup; a row whose data is not in the backup has the problem
  ``attachment-missing``, one whose payload failed its MAC ``mac-mismatch`` and no opener;
* the restore's warnings first (``frame/<n>``, ``table/<name>`` refs).

Schemas read: ``message`` (database version ≥ 174;
``from_recipient_id`` from 185, ``recipient_id`` before), ``attachment`` (≥ 215) or ``part``
(before, with ``mid``/``ct``/``unique_id``), ``recipient`` with ``e164``/``aci`` (≥ 201/200) or
``phone``/``uuid`` (before), ``group_membership`` or the older ``groups.members`` list. The
``sms``/``mms`` tables of versions before 174 are also read (refs ``sms/<id>`` and ``mms/<id>``;
their column names, ``address``, ``msg_box``, ``part.mid``, are from older releases' source and
have not been checked against a real backup of that age).

Speed: the frames of a large backup are nearly all ``INSERT`` statements; they are handled in
batches (lengths found with one AES-ECB call over the counter blocks, MACs checked with
precomputed HMAC states, bodies decrypted with one ECB call and an XOR, parameters decoded by the
compiled :func:`lanterne.messaging.protowire.statement_batch`), and everything else one frame
at a time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import os
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numba
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lanterne.errors import CorruptData, NotMyFormat, UserError
from lanterne.messaging import protowire as pw
from lanterne.messaging.records import (
    Account,
    Attachment,
    ChatDatabase,
    ChatWarning,
    Group,
    Member,
    Message,
    Record,
)
from lanterne.progress import NoProgress, Progress

__all__ = [
    "DB_NAME",
    "BlobInfo",
    "SignalBackup",
    "WrongPassphrase",
    "compile_kernels",
    "derive_keys",
    "open_backup",
    "passphrase_digits",
]

DB_NAME = "signal-backup.sqlite"
KDF_ROUNDS = 250_000
MAX_FRAME = 256 << 20
"""A frame length beyond this is damage (or a wrong key), not data."""
IN_MEMORY_LIMIT = 32 << 20
"""Attachments up to this size are decrypted into memory, larger ones spooled to a file."""
_CHUNK = 8 << 20
_BATCH_FRAMES = 8192
_KEYSTREAM_BLOCKS = 32768
_EXECUTEMANY_ROWS = 20_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: later millisecond times do not fit a datetime."""

_STOP_FULL, _STOP_NEED_DATA, _STOP_OTHER, _STOP_KEYSTREAM = 0, 1, 2, 3

# MessageTypes (Signal-Android): base type = type & 0x1F, and flag bits.
_BASE_TYPE_MASK = 0x1F
_BASE_INBOX = 20
_OUTGOING_BASES = frozenset(range(21, 27))
_INCOMING_CALLS = frozenset((1, 3, 8, 10))
_OUTGOING_CALLS = frozenset((2, 11))
_GROUP_CALL = 12
_GROUP_UPDATE_BIT = 0x10000
_GROUP_V2_PREFIX = "__signal_group__v2__!"
_GROUP_V1_PREFIX = "__textsecure_group__!"
_GROUP_MMS_PREFIX = "__signal_mms_group__!"

# DecryptedGroup (storage-service DecryptedGroups.proto) fields and Member.Role.
_DG_MEMBERS, _DG_PENDING, _DG_REQUESTING, _DG_BANNED = 7, 8, 9, 13
_ROLE_ADMINISTRATOR = 2
_ROLE_RANK = {"admin": 0, "member": 1, "pending": 2, "requesting": 3, "banned": 4}

_INSERT_TABLE = re.compile(r"\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+[\"'`\[]?(\w+)", re.IGNORECASE)


def _table_of(statement: str) -> str | None:
    m = _INSERT_TABLE.match(statement)
    return m.group(1) if m else None


class WrongPassphrase(UserError):
    """The passphrase does not decrypt the backup."""


# --- keys ------------------------------------------------------------------------------------


def passphrase_digits(passphrase: str) -> bytes:
    """The passphrase as the app uses it: its ASCII digits only (groups, spaces, dashes dropped)."""
    return "".join(c for c in passphrase if c in "0123456789").encode("ascii")


@lru_cache(maxsize=32)
def derive_keys(digits: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """(AES key, HMAC key) for passphrase ``digits`` and the header's ``salt``.

    250,000 rounds of SHA-512 (the salt only in the first), HKDF-SHA256 over the first 32 bytes.
    Cached: a test suite or a retry pays the ~0.3 s once per (passphrase, salt).
    """
    sha512 = hashlib.sha512
    h = sha512(salt + digits + digits).digest()
    for _ in range(KDF_ROUNDS - 1):
        h = sha512(h + digits).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"Backup Export").derive(
        h[:32]
    )
    return okm[:32], okm[32:]


class _Mac:
    """HMAC-SHA256 truncated to 10 bytes, with the key's inner and outer states precomputed
    (a third of the cost of :func:`hmac.digest` on short frames)."""

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest()
        block = block.ljust(64, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def start(self) -> hashlib._Hash:
        return self.inner.copy()

    def finish(self, inner: hashlib._Hash) -> bytes:
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:10]

    def of(self, data: bytes | memoryview) -> bytes:
        inner = self.inner.copy()
        inner.update(data)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:10]


# --- compiled helpers ------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _split_frames(
    buf: npt.NDArray[np.uint8],
    pos: int,
    end: int,
    ks0: npt.NDArray[np.uint8],
    kofs: int,
    encrypted_length: bool,
    max_frames: int,
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
) -> tuple[int, int, int]:
    """Finds consecutive statement frames from ``buf[pos]``: (count, position after, why it
    stopped). ``ks0[kofs + i]`` is the first keystream block of the i-th frame; a frame whose
    length is implausible or whose first plaintext byte is not the ``statement`` tag stops the
    run (the caller handles it one at a time)."""
    n = 0
    nks = ks0.shape[0]
    while n < max_frames:
        k = kofs + n
        if k >= nks:
            return n, pos, _STOP_KEYSTREAM
        if pos + 5 > end:
            return n, pos, _STOP_NEED_DATA
        if encrypted_length:
            length = (
                (int(buf[pos] ^ ks0[k, 0]) << 24)
                | (int(buf[pos + 1] ^ ks0[k, 1]) << 16)
                | (int(buf[pos + 2] ^ ks0[k, 2]) << 8)
                | int(buf[pos + 3] ^ ks0[k, 3])
            )
            first = buf[pos + 4] ^ ks0[k, 4]
        else:
            length = (
                (int(buf[pos]) << 24)
                | (int(buf[pos + 1]) << 16)
                | (int(buf[pos + 2]) << 8)
                | int(buf[pos + 3])
            )
            first = buf[pos + 4] ^ ks0[k, 0]
        if length < 11 or length > MAX_FRAME or first != 0x12:
            return n, pos, _STOP_OTHER
        if pos + 4 + length > end:
            return n, pos, _STOP_NEED_DATA
        starts[n] = pos
        lengths[n] = length
        pos += 4 + length
        n += 1
    return n, pos, _STOP_FULL


@numba.njit(cache=True, nogil=True)
def _counter_blocks(
    lengths: npt.NDArray[np.int64], n: int, counter0: int, iv_tail: npt.NDArray[np.uint8], skip: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The CTR counter blocks of ``n`` frames (frame i uses counter ``counter0 + i``), for one
    ECB call: (blocks, index of each frame's first block)."""
    first = np.empty(n + 1, np.int64)
    total = 0
    for i in range(n):
        first[i] = total
        total += (skip + lengths[i] - 10 + 15) // 16
    first[n] = total
    blocks = np.empty((total, 16), np.uint8)
    base = np.empty(16, np.uint8)
    for i in range(n):
        c = (counter0 + i) & 0xFFFFFFFF
        base[0] = (c >> 24) & 0xFF
        base[1] = (c >> 16) & 0xFF
        base[2] = (c >> 8) & 0xFF
        base[3] = c & 0xFF
        base[4:] = iv_tail
        for j in range(first[i + 1] - first[i]):
            row = first[i] + j
            acc = j
            for b in range(15, -1, -1):
                s = int(base[b]) + (acc & 0xFF)
                blocks[row, b] = s & 0xFF
                acc = (acc >> 8) + (s >> 8)
    return blocks, first


@numba.njit(cache=True, nogil=True)
def _decrypt_frames(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    n: int,
    keystream: npt.NDArray[np.uint8],
    first_block: npt.NDArray[np.int64],
    skip: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """XORs each frame's ciphertext with its keystream: the plaintexts end to end, and where
    each starts."""
    offsets = np.empty(n + 1, np.int64)
    total = 0
    for i in range(n):
        offsets[i] = total
        total += lengths[i] - 10
    offsets[n] = total
    out = np.empty(total, np.uint8)
    for i in range(n):
        src = starts[i] + 4
        k = first_block[i] * 16 + skip
        o = offsets[i]
        for t in range(lengths[i] - 10):
            out[o + t] = buf[src + t] ^ keystream[k + t]
    return out, offsets


def compile_kernels() -> None:
    """Compiles (or loads from numba's cache) the batch kernels, so that the first restore does
    not pay for it: a few seconds the first time after an install, milliseconds afterwards."""
    buf = np.zeros(64, np.uint8)
    idx = np.zeros(4, np.int64)
    _split_frames(buf, 0, 64, np.zeros((4, 16), np.uint8), 0, True, 4, idx, idx.copy())
    lengths = np.full(1, 20, np.int64)
    _blocks, first = _counter_blocks(lengths, 1, 0, np.zeros(12, np.uint8), 4)
    _decrypt_frames(buf, idx, lengths, 1, np.zeros(64, np.uint8), first, 4)
    pw.statement_batch(buf, np.zeros(2, np.int64), 1)


# --- the restore -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    iv: bytes
    salt: bytes
    version: int
    size: int
    """Bytes the header frame takes, its length prefix included."""


def read_header(f: BinaryIO, name: str) -> Header:
    """The plaintext header frame at the start of ``f``."""
    head = f.read(4)
    if len(head) < 4:
        raise NotMyFormat(f"{name} is too short to be a Signal backup")
    length = int.from_bytes(head, "big")
    if not 0 < length <= 4096:
        raise NotMyFormat(f"{name} is not a Signal Android backup (no header frame)")
    body = f.read(length)
    try:
        if len(body) < length:
            raise pw.WireError("truncated header")
        frame = pw.decode(body)
        header = pw.decode(_one_bytes(frame, 1))
        iv = _one_bytes(header, 1)
        salt = header.get(2, [b""])[-1]
        version = header.get(3, [0])[-1]
    except (pw.WireError, KeyError, TypeError) as exc:
        raise NotMyFormat(f"{name} is not a Signal Android backup: {exc}") from None
    if not isinstance(iv, bytes) or len(iv) != 16 or not isinstance(salt, bytes):
        raise NotMyFormat(f"{name} is not a Signal Android backup (bad header)")
    if not isinstance(version, int) or version not in (0, 1):
        raise CorruptData(
            "unsupported-version",
            f"{name}: backup format version {version!r}; this reader knows versions 0 and 1",
        )
    return Header(iv=iv, salt=salt, version=version, size=4 + length)


def _one_bytes(fields: dict[int, list[int | bytes]], number: int) -> bytes:
    value = fields[number][-1]
    if not isinstance(value, bytes):
        raise TypeError(f"field {number} is not length-delimited")
    return value


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """Where one attachment/avatar/sticker payload lies in the backup file."""

    kind: str
    row_id: int | None
    attachment_id: int | None
    name: str | None
    offset: int
    """File offset of the ciphertext; the 10-byte MAC follows it."""
    length: int
    counter: int
    """The CTR counter value (IV bytes 0–3) of its stream."""
    mac_ok: bool


class _Stop(Exception):
    """The restore ends here (damage); the warning is already recorded."""


class _Restorer:
    """One pass over the backup file: decrypt, check, replay."""

    def __init__(
        self,
        path: Path,
        f: BinaryIO,
        header: Header,
        cipher_key: bytes,
        mac_key: bytes,
        conn: sqlite3.Connection,
        progress: Progress,
    ) -> None:
        self.path = path
        self.f = f
        self.header = header
        self.version = header.version
        self.aes = algorithms.AES(cipher_key)
        self.ecb = Cipher(self.aes, modes.ECB()).encryptor()
        self.mac = _Mac(mac_key)
        self.iv_tail = header.iv[4:]
        self.iv_tail_arr = np.frombuffer(self.iv_tail, np.uint8).copy()
        self.counter = int.from_bytes(header.iv[:4], "big")
        self.conn = conn
        self.progress = progress
        self.buf = b""
        self.base = header.size  # file offset of buf[0]
        self.pos = 0
        self.eof = False
        self.frames = 0
        self.database_version: int | None = None
        self.ended = False
        self.warnings: list[ChatWarning] = []
        self.blobs: list[tuple[object, ...]] = []
        self.key_values: list[tuple[object, ...]] = []
        self.preferences: list[tuple[object, ...]] = []
        self.skipped: list[tuple[str, str]] = []
        self.failures: dict[tuple[str, str], list[int]] = {}
        self.pending_sql: bytes | None = None
        self.pending_first = 0
        self.pending_rows: list[Sequence[object]] = []
        self.rows = 0
        self.ks0 = np.zeros((0, 16), np.uint8)
        self.ks0_counter = 0
        self.starts = np.empty(_BATCH_FRAMES, np.int64)
        self.lengths = np.empty(_BATCH_FRAMES, np.int64)

    # -- input ------------------------------------------------------------------------------

    def _refill(self, need: int = 0) -> bool:
        """Keeps ``buf[pos:]`` and reads on; True when at least ``need`` bytes are available."""
        if self.eof:
            return len(self.buf) - self.pos >= need
        rest = self.buf[self.pos :]
        self.base += self.pos
        self.pos = 0
        want = max(_CHUNK, need - len(rest))
        more = self.f.read(want)
        self.progress.advance(nbytes=len(more))
        if len(more) < want:
            self.eof = True
        self.buf = rest + more
        return len(self.buf) >= need

    def _ensure(self, need: int) -> bool:
        if len(self.buf) - self.pos >= need:
            return True
        return self._refill(need)

    def _offset(self) -> int:
        return self.base + self.pos

    def _next_iv(self) -> bytes:
        iv = self.counter.to_bytes(4, "big") + self.iv_tail
        self.counter = (self.counter + 1) & 0xFFFFFFFF
        return iv

    # -- failure ----------------------------------------------------------------------------

    def _damage(self, reason: str, detail: str) -> _Stop:
        """Records why the restore stops; at the first encrypted frame that means the key."""
        if self.frames == 0 and reason != "truncated":
            return _WrongPassphraseStop(detail)
        self.warnings.append(
            ChatWarning(ref=f"frame/{self.frames + 1}", reason=reason, detail=detail)
        )
        return _Stop(detail)

    # -- the main loop ----------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.ended:
                if self._batch():
                    continue
                self._one_frame()
        except _WrongPassphraseStop:
            raise
        except _Stop:
            pass
        self._flush()
        for (table, error), (count, frame) in (
            (k, (len(v), v[0])) for k, v in self.failures.items()
        ):
            self.warnings.append(
                ChatWarning(
                    ref=f"table/{table}",
                    reason="statement-failed",
                    detail=f"{count} statement(s) not restored, first at frame {frame}: {error}",
                )
            )

    def _keystream0(self) -> None:
        """First keystream blocks of the next counters (frame lengths, first bytes)."""
        count = _KEYSTREAM_BLOCKS
        blocks = np.empty((count, 16), np.uint8)
        counters = (self.counter + np.arange(count, dtype=np.uint64)) & np.uint64(0xFFFFFFFF)
        blocks[:, :4] = counters.astype(">u4").view(np.uint8).reshape(count, 4)
        blocks[:, 4:] = self.iv_tail_arr
        self.ks0 = np.frombuffer(self.ecb.update(blocks.tobytes()), np.uint8).reshape(count, 16)
        self.ks0_counter = self.counter

    def _batch(self) -> bool:
        """Handles a run of statement frames at once; False when the next frame needs the
        one-at-a-time path."""
        kofs = (self.counter - self.ks0_counter) & 0xFFFFFFFF
        if kofs + _BATCH_FRAMES > self.ks0.shape[0]:
            self._keystream0()
            kofs = 0
        arr = np.frombuffer(self.buf, np.uint8)
        n, _end, stop = _split_frames(
            arr, self.pos, len(self.buf), self.ks0, kofs, self.version >= 1,
            _BATCH_FRAMES, self.starts, self.lengths,
        )  # fmt: skip
        if n:
            self._statements(arr, n)
        if stop == _STOP_NEED_DATA and not self.eof and (n or len(self.buf) - self.pos < _CHUNK):
            self._refill()
            return True
        return bool(n) and stop in (_STOP_FULL, _STOP_KEYSTREAM)

    def _statements(self, arr: npt.NDArray[np.uint8], n: int) -> None:
        """``n`` statement frames found by :func:`_split_frames`: MACs, decryption, replay."""
        buf = self.buf
        starts = self.starts[:n].tolist()
        lengths = self.lengths[:n].tolist()
        hs = 0 if self.version >= 1 else 4
        mac = self.mac
        inner0, outer0 = mac.inner, mac.outer
        bad = -1
        for i in range(n):
            s = starts[i]
            e = s + 4 + lengths[i]
            inner = inner0.copy()
            inner.update(buf[s + hs : e - 10])
            outer = outer0.copy()
            outer.update(inner.digest())
            if outer.digest()[:10] != buf[e - 10 : e]:
                bad = i
                break
        good = n if bad < 0 else bad
        if good:
            skip = 4 if self.version >= 1 else 0
            blocks, first_block = _counter_blocks(
                self.lengths, good, self.counter, self.iv_tail_arr, skip
            )
            keystream = np.frombuffer(self.ecb.update(blocks.tobytes()), np.uint8)
            pt, offsets = _decrypt_frames(
                arr, self.starts, self.lengths, good, keystream, first_block, skip
            )
            self._replay_batch(pt, offsets, good)
            self.counter = (self.counter + good) & 0xFFFFFFFF
            self.frames += good
            self.pos = starts[good - 1] + 4 + lengths[good - 1]
        if bad >= 0:
            self.pos = starts[bad]
            raise self._damage(
                "mac-mismatch", f"frame {self.frames + 1} at offset {self._offset()} fails its MAC"
            )

    def _replay_batch(
        self, pt: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], n: int
    ) -> None:
        kinds, values, pstarts, pends, first, tstart, tend, ok, same = pw.statement_batch(
            pt, offsets, n
        )
        ptb = pt.tobytes()
        first_l = first.tolist()
        ok_l = ok.tolist()
        same_l = same.tolist()
        i = 0
        while i < n:
            if not ok_l[i]:
                self._frame_plain(ptb[offsets[i] : offsets[i + 1]], self.frames + i + 1)
                i += 1
                continue
            j = i + 1
            while j < n and same_l[j]:
                j += 1
            sql = ptb[int(tstart[i]) : int(tend[i])]
            a, b = first_l[i], first_l[j]
            k = first_l[i + 1] - a
            if k == 0:
                for _ in range(i, j):
                    self._statement(sql, None, self.frames + i + 1)
            elif b - a == k * (j - i):
                self._rows(
                    sql,
                    _rows_of(kinds[a:b], values[a:b], pstarts[a:b], pends[a:b], ptb, k),
                    self.frames + i + 1,
                )
            else:  # rows of unequal width (not written by the app): one by one
                for r in range(i, j):
                    a1, b1 = first_l[r], first_l[r + 1]
                    rows = _rows_of(
                        kinds[a1:b1], values[a1:b1], pstarts[a1:b1], pends[a1:b1], ptb, b1 - a1
                    )
                    self._rows(sql, rows, self.frames + r + 1)
            i = j

    def _one_frame(self) -> None:
        """Reads, checks and handles the frame at ``pos`` (and the blob after it)."""
        number = self.frames + 1
        if not self._ensure(4):
            if len(self.buf) - self.pos == 0:
                raise self._damage(
                    "truncated",
                    f"the file ends after frame {self.frames} (offset {self._offset()})"
                    " without an end frame",
                )
            raise self._damage("truncated", f"frame {number} at offset {self._offset()} is cut off")
        iv = self.counter.to_bytes(4, "big") + self.iv_tail
        dec = Cipher(self.aes, modes.CTR(iv)).decryptor()
        raw_len = self.buf[self.pos : self.pos + 4]
        length = int.from_bytes(dec.update(raw_len) if self.version >= 1 else raw_len, "big")
        if self.frames == 0 and self.version >= 1 and length > 4096:
            # the first frame is the few bytes of the database version: a wrong key
            raise _WrongPassphraseStop(f"first frame length {length}")
        if length < 11 or length > MAX_FRAME:
            raise self._damage(
                "corrupt-frame",
                f"frame {number} at offset {self._offset()} has an implausible length"
                f" ({length} bytes)",
            )
        if not self._ensure(4 + length):
            present = len(self.buf) - self.pos - 4
            raise self._damage(
                "truncated",
                f"frame {number} at offset {self._offset()} is cut off"
                f" ({length} bytes declared, {present} present)",
            )
        s = self.pos
        e = s + 4 + length
        body = self.buf[s + 4 : e - 10]
        mac = self.mac.of(self.buf[s : e - 10] if self.version >= 1 else body)
        if mac != self.buf[e - 10 : e]:
            raise self._damage(
                "mac-mismatch", f"frame {number} at offset {self._offset()} fails its MAC"
            )
        self.counter = (self.counter + 1) & 0xFFFFFFFF
        self.frames += 1
        self.pos = e
        self._frame_plain(dec.update(body), number)

    def _frame_plain(self, plain: bytes, number: int) -> None:
        """One decrypted, verified frame."""
        try:
            frame = pw.decode(plain)
            self._dispatch(frame, plain, number)
        except (pw.WireError, TypeError, UnicodeDecodeError) as exc:
            self.warnings.append(
                ChatWarning(
                    ref=f"frame/{number}",
                    reason="unreadable-frame",
                    detail=f"frame {number}: {exc}",
                )
            )

    def _dispatch(self, frame: dict[int, list[int | bytes]], plain: bytes, number: int) -> None:
        if 2 in frame:
            body = _one_bytes(frame, 2)
            sql = pw.statement_text(body, 0, len(body))
            params = pw.sql_parameters(body, 0, len(body))
            self._statement(sql, params or None, number)
        elif 4 in frame:
            att = pw.decode(_one_bytes(frame, 4))
            self._blob("attachment", _int(att, 1), _int(att, 2), None, _int(att, 3) or 0, number)
        elif 7 in frame:
            av = pw.decode(_one_bytes(frame, 7))
            name = _str(av, 3) or _str(av, 1)
            self._blob("avatar", None, None, name, _int(av, 2) or 0, number)
        elif 8 in frame:
            st = pw.decode(_one_bytes(frame, 8))
            self._blob("sticker", _int(st, 1), None, None, _int(st, 2) or 0, number)
        elif 5 in frame:
            self._flush()
            self.database_version = _int(pw.decode(_one_bytes(frame, 5)), 1)
        elif 9 in frame:
            kv = pw.decode(_one_bytes(frame, 9))
            self.key_values.append((_str(kv, 1), *_kv_value(kv)))
        elif 3 in frame:
            pref = pw.decode(_one_bytes(frame, 3))
            value: object = _str(pref, 3)
            if value is None and 4 in pref:
                value = _int(pref, 4)
            if value is None and 5 in pref:
                value = "\n".join(
                    v.decode("utf-8", "replace") for v in pref[5] if isinstance(v, bytes)
                )
            self.preferences.append((_str(pref, 1), _str(pref, 2), value))
        elif 6 in frame:
            self.ended = True
        elif 1 in frame:
            raise pw.WireError("a second header frame")
        else:
            self.warnings.append(
                ChatWarning(
                    ref=f"frame/{number}",
                    reason="unknown-frame",
                    detail=f"frame {number} has fields {sorted(frame)}",
                )
            )

    def _blob(
        self,
        kind: str,
        row_id: int | None,
        attachment_id: int | None,
        name: str | None,
        length: int,
        number: int,
    ) -> None:
        """The payload after an attachment/avatar/sticker frame: MAC checked, place recorded."""
        iv = self._next_iv()
        counter = int.from_bytes(iv[:4], "big")
        offset = self._offset()
        inner = self.mac.start()
        inner.update(iv)
        avail = len(self.buf) - self.pos
        if length + 10 <= avail:
            inner.update(memoryview(self.buf)[self.pos : self.pos + length])
            tag = self.buf[self.pos + length : self.pos + length + 10]
            self.pos += length + 10
        else:
            inner.update(memoryview(self.buf)[self.pos :])
            left = length - avail
            self.base += len(self.buf)
            self.buf = b""
            self.pos = 0
            while left > 0:
                chunk = self.f.read(min(left, _CHUNK))
                if not chunk:
                    self.eof = True
                    raise self._damage(
                        "truncated",
                        f"the {kind} payload after frame {number} (offset {offset},"
                        f" {length} bytes) is cut off",
                    )
                self.progress.advance(nbytes=len(chunk))
                inner.update(chunk)
                left -= len(chunk)
                self.base += len(chunk)
            tag = self.f.read(10)
            self.progress.advance(nbytes=len(tag))
            self.base += len(tag)
            if len(tag) < 10:
                self.eof = True
                raise self._damage(
                    "truncated", f"the MAC of the {kind} payload after frame {number} is cut off"
                )
        ok = self.mac.finish(inner) == tag
        self.blobs.append((kind, row_id, attachment_id, name, offset, length, counter, int(ok)))
        if not ok:
            self.warnings.append(
                ChatWarning(
                    ref=f"frame/{number}",
                    reason="mac-mismatch",
                    detail=f"the {kind} payload after frame {number} (offset {offset})"
                    " fails its MAC",
                )
            )

    # -- replay -----------------------------------------------------------------------------

    def _statement(self, sql: bytes, params: list[pw.SqlValue] | None, number: int) -> None:
        if params is not None:
            self._rows(sql, [params], number)
            return
        self._flush()
        text = sql.decode("utf-8", "replace")
        low = text.lstrip()[:40].lower()
        if low.startswith("create table sqlite_"):
            return  # sqlite_sequence & co: SQLite makes its own
        for prefix, reason in (
            ("create index", "index"), ("create unique index", "index"),
            ("create trigger", "trigger"), ("create virtual table", "virtual-table"),
        ):  # fmt: skip
            if low.startswith(prefix):
                self.skipped.append((text, reason))
                return
        try:
            self.conn.execute(text)
        except sqlite3.Error as exc:
            self.failures.setdefault(("schema", str(exc)), []).append(number)

    def _rows(self, sql: bytes, rows: Sequence[Sequence[object]], number: int) -> None:
        if sql != self.pending_sql:
            self._flush()
            self.pending_sql = sql
            self.pending_first = number
        self.pending_rows.extend(rows)
        if len(self.pending_rows) >= _EXECUTEMANY_ROWS:
            self._flush()

    def _flush(self) -> None:
        """Executes the pending rows of one ``INSERT`` statement (one by one when the batch
        fails, so that every row that can be kept is kept)."""
        rows = self.pending_rows
        if not rows or self.pending_sql is None:
            self.pending_rows = []
            return
        text = self.pending_sql.decode("utf-8", "replace")
        number = self.pending_first
        self.pending_rows = []
        conn = self.conn
        conn.execute("SAVEPOINT batch")
        try:
            conn.executemany(text, rows)
            conn.execute("RELEASE batch")
            self.rows += len(rows)
            return
        except sqlite3.Error:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
        table = _table_of(text) or text[:40]
        for row in rows:
            try:
                conn.execute(text, row)
                self.rows += 1
            except sqlite3.IntegrityError as exc:
                self.failures.setdefault((table, str(exc)), []).append(number)
            except sqlite3.Error as exc:  # the statement itself fails: so will every row
                self.failures.setdefault((table, str(exc)), []).extend([number] * len(rows))
                break


class _WrongPassphraseStop(_Stop):
    pass


def _rows_of(
    kinds: npt.NDArray[np.uint8],
    values: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    ptb: bytes,
    width: int,
) -> list[list[object]]:
    """Rows of ``width`` Python values from the decoded parameter arrays."""
    obj = values.astype(object)
    if (kinds != pw.KIND_INT).any():
        obj[kinds == pw.KIND_NULL] = None
        sel = np.flatnonzero(kinds >= pw.KIND_STR)
        if len(sel):
            for idx, kind, s, e in zip(
                sel.tolist(), kinds[sel].tolist(), starts[sel].tolist(), ends[sel].tolist(),
                strict=True,
            ):  # fmt: skip
                if kind == pw.KIND_STR:
                    obj[idx] = ptb[s:e].decode("utf-8", "replace")
                elif kind == pw.KIND_BLOB:
                    obj[idx] = ptb[s:e]
                else:
                    obj[idx] = float(values[idx : idx + 1].view(np.float64)[0])
    rows: list[list[object]] = obj.reshape(-1, width).tolist()
    return rows


def _int(fields: dict[int, list[int | bytes]], number: int) -> int | None:
    values = fields.get(number)
    if not values:
        return None
    value = values[-1]
    return value if isinstance(value, int) else None


def _str(fields: dict[int, list[int | bytes]], number: int) -> str | None:
    values = fields.get(number)
    if not values:
        return None
    value = values[-1]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _kv_value(kv: dict[int, list[int | bytes]]) -> tuple[str, object]:
    """(type, value) of a ``KeyValue``."""
    if 7 in kv:
        return "string", _str(kv, 7)
    if 2 in kv:
        v = kv[2][-1]
        return "blob", v
    if 3 in kv:
        return "boolean", _int(kv, 3)
    if 5 in kv:
        return "integer", pw.to_int64(_int(kv, 5) or 0)
    if 6 in kv:
        return "long", pw.to_int64(_int(kv, 6) or 0)
    if 4 in kv:
        raw = kv[4][-1]
        return "float", np.frombuffer(raw, "<f4")[0].item() if isinstance(raw, bytes) else None
    return "null", None


_LANTERNE_DDL = (
    "CREATE TABLE lanterne_backup (key TEXT PRIMARY KEY, value)",
    "CREATE TABLE lanterne_blob (kind TEXT NOT NULL, row_id INTEGER, attachment_id INTEGER,"
    " name TEXT, offset INTEGER NOT NULL, length INTEGER NOT NULL, counter INTEGER NOT NULL,"
    " mac_ok INTEGER NOT NULL)",
    "CREATE TABLE lanterne_key_value (key TEXT, type TEXT, value)",
    "CREATE TABLE lanterne_preference (file TEXT, key TEXT, value)",
    "CREATE TABLE lanterne_skipped_statement (statement TEXT, reason TEXT)",
    "CREATE TABLE lanterne_warning (ref TEXT, reason TEXT, detail TEXT)",
)


# --- the result ------------------------------------------------------------------------------


@dataclass
class SignalBackup:
    """A restored backup: the database in ``db_path`` and how to read it."""

    path: Path
    workdir: Path
    db_path: Path
    backup_version: int
    database_version: int | None
    frames: int
    rows: int
    complete: bool
    """The end frame was reached and every frame verified."""
    warnings: list[ChatWarning]
    _cipher_key: bytes = field(repr=False)
    _mac_key: bytes = field(repr=False)
    _iv_tail: bytes = field(repr=False)

    @property
    def database(self) -> ChatDatabase:
        return ChatDatabase(
            app="signal-android", schema_version=self.database_version, records=self.records
        )

    def blobs(self, kind: str | None = None) -> list[BlobInfo]:
        """Every payload of the backup (or those of one ``kind``) in file order."""
        with _connect_ro(self.db_path) as conn:
            rows = conn.execute(
                "SELECT kind, row_id, attachment_id, name, offset, length, counter, mac_ok"
                " FROM lanterne_blob WHERE ?1 IS NULL OR kind = ?1 ORDER BY offset",
                (kind,),
            ).fetchall()
        return [BlobInfo(k, r, a, n, o, ln, c, bool(ok)) for k, r, a, n, o, ln, c, ok in rows]

    def open_blob(self, blob: BlobInfo) -> BinaryIO:
        """A fresh seekable stream of ``blob``'s plaintext, its MAC checked again.

        Up to :data:`IN_MEMORY_LIMIT` bytes in memory; beyond, an unlinked temporary file under
        ``workdir`` (gone when the stream is closed). Raises :class:`CorruptData`
        (``mac-mismatch``, ``truncated``).
        """
        stream, spooled = self._open(blob.offset, blob.length, blob.counter)
        if spooled is not None:
            os.unlink(spooled)  # POSIX: the open file lives on until closed
        return stream

    def _open(self, offset: int, length: int, counter: int) -> tuple[BinaryIO, str | None]:
        iv = (counter & 0xFFFFFFFF).to_bytes(4, "big") + self._iv_tail
        dec = Cipher(algorithms.AES(self._cipher_key), modes.CTR(iv)).decryptor()
        mac = _Mac(self._mac_key)
        inner = mac.start()
        inner.update(iv)
        with self.path.open("rb") as f:
            f.seek(offset)
            if length <= IN_MEMORY_LIMIT:
                ct = f.read(length)
                tag = f.read(10)
                if len(ct) < length or len(tag) < 10:
                    raise CorruptData(
                        "truncated", f"{self.path}: payload at offset {offset} is cut off"
                    )
                inner.update(ct)
                if mac.finish(inner) != tag:
                    raise CorruptData(
                        "mac-mismatch", f"{self.path}: payload at offset {offset} fails its MAC"
                    )
                return io.BytesIO(dec.update(ct) + dec.finalize()), None
            fd, name = tempfile.mkstemp(prefix="signal-attachment-", dir=self.workdir)
            out = os.fdopen(fd, "w+b")
            try:
                left = length
                while left:
                    chunk = f.read(min(left, _CHUNK))
                    if not chunk:
                        raise CorruptData(
                            "truncated", f"{self.path}: payload at offset {offset} is cut off"
                        )
                    inner.update(chunk)
                    out.write(dec.update(chunk))
                    left -= len(chunk)
                tag = f.read(10)
                if mac.finish(inner) != tag:
                    raise CorruptData(
                        "mac-mismatch", f"{self.path}: payload at offset {offset} fails its MAC"
                    )
                out.flush()
                out.seek(0)
            except BaseException:
                out.close()
                os.unlink(name)
                raise
            return out, name

    def create_app_indexes(self) -> int:
        """Builds the app's indexes that the restore skipped; how many were built."""
        conn = sqlite3.connect(self.db_path)
        built = 0
        try:
            for (sql,) in conn.execute(
                "SELECT statement FROM lanterne_skipped_statement WHERE reason = 'index'"
            ).fetchall():
                try:
                    conn.execute(sql)
                    built += 1
                except sqlite3.Error:
                    pass
            conn.commit()
        finally:
            conn.close()
        return built

    def records(self) -> Iterator[Record]:
        """The restored database as records: warnings of the restore, then accounts, groups,
        members and messages (streamed, in ``_id`` order)."""
        conn = _connect_ro(self.db_path)
        try:
            yield from self.warnings
            yield from _Records(self, conn).all()
        finally:
            conn.close()


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA cache_size = -65536")
    return conn


class _AttachmentBlob:
    """Opener and releaser of one attachment's plaintext."""

    __slots__ = ("backup", "counter", "length", "offset", "spooled")

    def __init__(self, backup: SignalBackup, offset: int, length: int, counter: int) -> None:
        self.backup = backup
        self.offset = offset
        self.length = length
        self.counter = counter
        self.spooled: list[str] = []

    def open(self) -> BinaryIO:
        stream, name = self.backup._open(self.offset, self.length, self.counter)
        if name is not None:
            self.spooled.append(name)
        return stream

    def release(self) -> None:
        while self.spooled:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.spooled.pop())


# --- reading the restored database -----------------------------------------------------------


def _group_key(group_id: str) -> str:
    for prefix, scheme in (
        (_GROUP_V2_PREFIX, "signal-v2"), (_GROUP_V1_PREFIX, "signal-v1"),
        (_GROUP_MMS_PREFIX, "signal-mms"),
    ):  # fmt: skip
        if group_id.startswith(prefix):
            rest = group_id[len(prefix) :]
            try:
                return f"{scheme}:{bytes.fromhex(rest).hex()}"
            except ValueError:
                return f"{scheme}:{rest}"
    return f"signal-android:{group_id}"


def _service_id(raw: bytes) -> str | None:
    """A binary service id: 16 bytes = ACI, 0x01 + 16 bytes = PNI (``PNI:<uuid>``)."""
    if len(raw) == 16:
        return str(uuid.UUID(bytes=raw))
    if len(raw) == 17 and raw[0] == 0x01:
        return f"PNI:{uuid.UUID(bytes=raw[1:])}"
    return None


def _datetime_ms(ms: object) -> datetime | None:
    if not isinstance(ms, int) or not 0 < ms < _MAX_MS:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC)


def _message_type(t: int) -> tuple[str, bool]:
    """(record type, sent by the owner) of a ``MessageTypes`` value."""
    base = t & _BASE_TYPE_MASK
    if t & _GROUP_UPDATE_BIT:
        return "group-update", base in _OUTGOING_BASES
    if base == _BASE_INBOX:
        return "incoming", False
    if base in _OUTGOING_BASES:
        return "outgoing", True
    if base in _INCOMING_CALLS or base == _GROUP_CALL:
        return "call", False
    if base in _OUTGOING_CALLS:
        return "call", True
    return "other", False


def _pick(columns: set[str], *names: str, alias: str = "") -> str:
    """The first of ``names`` that the table has, quoted (``NULL`` when none)."""
    for name in names:
        if name in columns:
            return f'{alias}"{name}"'
    return "NULL"


def _is_person(group_id: object, rtype: object, dlist: object, link: object) -> bool:
    """A ``recipient`` row of an individual (not a group, distribution list or call link)."""
    return group_id is None and dlist is None and link is None and rtype in (None, 0)


class _Records:
    """Reads a restored database as records, branching on the columns each table has."""

    def __init__(self, backup: SignalBackup, conn: sqlite3.Connection) -> None:
        self.backup = backup
        self.conn = conn
        self.tables = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        self.person_refs: dict[int, str] = {}
        self.by_service_id: dict[str, int] = {}
        self.owner: int | None = None
        self.group_of_recipient: dict[int, int] = {}
        self.warnings: list[ChatWarning] = []

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f'PRAGMA table_info("{table}")')}

    def all(self) -> Iterator[Record]:
        if "recipient" not in self.tables:
            yield ChatWarning(
                ref="recipient", reason="missing-table", detail="no recipient table restored"
            )
            return
        yield from self.accounts()
        yield from self.groups()
        yield from self.messages()
        yield from self.warnings

    def key_value(self, key: str) -> object:
        row = self.conn.execute(
            "SELECT value FROM lanterne_key_value WHERE key = ? ORDER BY rowid DESC", (key,)
        ).fetchone()
        return row[0] if row else None

    def accounts(self) -> Iterator[Account]:
        """Persons of ``recipient``; the owner is the one whose ACI is the KeyValue
        ``account.aci`` (failing that, whose number is ``account.e164``)."""
        c = self.columns("recipient")
        sql = (
            f"SELECT _id, {_pick(c, 'e164', 'phone')}, {_pick(c, 'aci', 'uuid')},"
            f" {_pick(c, 'pni')}, {_pick(c, 'username')}, {_pick(c, 'profile_joined_name')},"
            f" {_pick(c, 'profile_given_name', 'signal_profile_name')},"
            f" {_pick(c, 'profile_family_name')},"
            f" {_pick(c, 'system_joined_name', 'system_display_name')},"
            f" {_pick(c, 'group_id')}, {_pick(c, 'type', 'group_type')},"
            f" {_pick(c, 'distribution_list_id')}, {_pick(c, 'call_link_room_id')}"
            " FROM recipient ORDER BY _id"
        )
        rows = [r for r in self.conn.execute(sql).fetchall() if _is_person(*r[9:])]
        owner_aci = self.key_value("account.aci")
        owner_e164 = self.key_value("account.e164")
        for rid, e164, aci, *_rest in rows:
            if isinstance(owner_aci, str):
                if isinstance(aci, str) and aci.lower() == owner_aci.lower():
                    self.owner = rid
            elif owner_e164 is not None and e164 == owner_e164 and self.owner is None:
                self.owner = rid
        for rid, e164, aci, pni, username, joined, given, family, contact, *_rest in rows:
            ref = f"recipient/{rid}"
            self.person_refs[rid] = ref
            if isinstance(aci, str):
                self.by_service_id[aci.lower()] = rid
            if isinstance(pni, str):
                bare = pni[4:] if pni.upper().startswith("PNI:") else pni
                self.by_service_id[f"PNI:{bare.lower()}"] = rid
            profile = joined or " ".join(p for p in (given, family) if p) or None
            yield Account(
                ref=ref,
                e164=e164 if isinstance(e164, str) and e164 else None,
                aci=aci if isinstance(aci, str) and aci else None,
                pni=pni if isinstance(pni, str) and pni else None,
                username=username or None,
                profile_name=profile,
                contact_name=contact or None,
                is_self=rid == self.owner,
            )

    def groups(self) -> Iterator[Group | Member]:
        """``groups`` rows, then their members: ``group_membership`` (or the older
        ``groups.members`` list) as ``member``, refined by ``decrypted_group``."""
        if "groups" not in self.tables:
            return
        c = self.columns("groups")
        rows = self.conn.execute(
            f"SELECT _id, group_id, title, {_pick(c, 'recipient_id')},"
            f" {_pick(c, 'decrypted_group')}, {_pick(c, 'members')} FROM groups ORDER BY _id"
        ).fetchall()
        by_group_id: dict[str, int] = {}
        for gid, group_id, title, recipient_id, _dg, _members in rows:
            if not isinstance(group_id, str):
                continue
            by_group_id[group_id] = gid
            if isinstance(recipient_id, int):
                self.group_of_recipient[recipient_id] = gid
            yield Group(ref=f"group/{gid}", key=_group_key(group_id), title=title)
        roles: dict[int, dict[int, str]] = {gid: {} for gid in by_group_id.values()}
        membership = "group_membership" in self.tables
        if membership:
            for group_id, rid in self.conn.execute(
                "SELECT group_id, recipient_id FROM group_membership ORDER BY _id"
            ):
                gid = by_group_id.get(group_id)
                if gid is not None and isinstance(rid, int):
                    roles[gid][rid] = "member"
        for gid, _group_id, _title, _rid, dg, members in rows:
            if gid not in roles:
                continue
            if isinstance(members, str) and not membership:
                for part in members.split(","):
                    if part.strip().isdigit():
                        roles[gid].setdefault(int(part), "member")
            if isinstance(dg, bytes):
                self._decrypted_roles(gid, dg, roles[gid])
        for gid in sorted(roles):
            for rid in sorted(roles[gid]):
                ref = f"group/{gid}/member/{rid}"
                if rid not in self.person_refs:
                    self.warnings.append(
                        ChatWarning(ref, "unknown-member", f"recipient {rid} is not a person")
                    )
                    continue
                yield Member(ref, f"group/{gid}", self.person_refs[rid], roles[gid][rid])

    def _decrypted_roles(self, gid: int, blob: bytes, roles: dict[int, str]) -> None:
        """Roles from ``groups.decrypted_group`` (``DecryptedGroup``): members = 7 with role = 2
        (2 = administrator), pendingMembers = 8, requestingMembers = 9, bannedMembers = 13; each
        entry's field 1 is the binary service id. The strongest role wins."""
        sections = (
            (_DG_MEMBERS, "member"), (_DG_PENDING, "pending"),
            (_DG_REQUESTING, "requesting"), (_DG_BANNED, "banned"),
        )  # fmt: skip
        try:
            fields = pw.decode(blob)
            for number, role in sections:
                for entry in fields.get(number, []):
                    if not isinstance(entry, bytes):
                        continue
                    member = pw.decode(entry)
                    raw = member.get(1, [b""])[-1]
                    sid = _service_id(raw) if isinstance(raw, bytes) else None
                    if sid is None:
                        continue
                    key = f"PNI:{sid[4:].lower()}" if sid.startswith("PNI:") else sid.lower()
                    rid = self.by_service_id.get(key)
                    if rid is None:
                        continue
                    this = role
                    if number == _DG_MEMBERS and _int(member, 2) == _ROLE_ADMINISTRATOR:
                        this = "admin"
                    old = roles.get(rid)
                    if old is None or _ROLE_RANK[this] < _ROLE_RANK[old]:
                        roles[rid] = this
        except (pw.WireError, ValueError) as exc:
            self.warnings.append(ChatWarning(f"group/{gid}", "unreadable-group", str(exc)))

    def messages(self) -> Iterator[Message | ChatWarning]:
        threads: dict[object, int] = {}
        if "thread" in self.tables:
            c = self.columns("thread")
            column = _pick(c, "recipient_id", "thread_recipient_id", "recipient_ids")
            for tid, rid in self.conn.execute(f"SELECT _id, {column} FROM thread"):
                if isinstance(rid, str) and rid.isdigit():
                    rid = int(rid)
                if isinstance(rid, int):
                    threads[tid] = rid
        attachments = _attachment_source(self)
        if "message" in self.tables:
            yield from self._messages("message", attachments, threads)
        else:  # before database version 174
            if "sms" in self.tables:
                yield from self._messages("sms", None, threads)
            if "mms" in self.tables:
                yield from self._messages("mms", attachments, threads)

    def _messages(
        self, table: str, attachments: _AttachmentSource | None, threads: dict[object, int]
    ) -> Iterator[Message]:
        """One message table, streamed in ``_id`` order, attachments merged in."""
        c = self.columns(table)
        if table == "mms":  # there ``date`` was the sent time
            sent, received = _pick(c, "date_sent", "date"), _pick(c, "date_received")
        else:
            sent, received = _pick(c, "date_sent"), _pick(c, "date_received", "date")
        sender = _pick(c, "from_recipient_id", "recipient_id", "address")
        # before version 185 the recipient column of an outgoing message names the peer
        from_is_author = sender == '"from_recipient_id"'
        cur = self.conn.execute(
            f"SELECT _id, {_pick(c, 'thread_id')}, {sent}, {received}, {sender},"
            f" {_pick(c, 'type', 'msg_box')}, {_pick(c, 'body')} FROM {table} ORDER BY _id"
        )
        person_refs = self.person_refs
        owner_ref = person_refs.get(self.owner) if self.owner is not None else None
        group_refs = {rid: f"group/{gid}" for rid, gid in self.group_of_recipient.items()}
        conversation: dict[object, tuple[str | None, str | None]] = {}
        for tid, trid in threads.items():
            group_ref = group_refs.get(trid)
            conversation[tid] = (group_ref, None if group_ref else person_refs.get(trid))
        types: dict[object, tuple[str, bool]] = {}
        att_iter = attachments.stream(table) if attachments is not None else iter(())
        pending = next(att_iter, None)
        fts = datetime.fromtimestamp
        nowhere: tuple[str | None, str | None] = (None, None)
        for mid, tid, ds, dr, frm, t, body in cur:
            kt = types.get(t)
            if kt is None:
                kt = types[t] = _message_type(t) if isinstance(t, int) else ("other", False)
            kind, by_owner = kt
            group_ref, peer_ref = conversation.get(tid, nowhere)
            if frm.__class__ is str and frm.isdigit():
                frm = int(frm)
            if by_owner:
                sender_ref = owner_ref or (person_refs.get(frm) if from_is_author else None)
            else:
                sender_ref = person_refs.get(frm)
                if sender_ref is None and group_ref is None:
                    sender_ref = peer_ref
            msg = Message(
                ref=f"{table}/{mid}",
                sent_at=fts(ds / 1000, UTC) if ds.__class__ is int and 0 < ds < _MAX_MS else None,
                group_ref=group_ref,
                peer_ref=peer_ref,
                sender_ref=sender_ref,
                received_at=fts(dr / 1000, UTC)
                if dr.__class__ is int and 0 < dr < _MAX_MS
                else None,
                body=body if body.__class__ is str else None,
                type=kind,
            )
            if pending is not None:
                while pending is not None and pending[0] < mid:
                    pending = next(att_iter, None)
                while pending is not None and pending[0] == mid:
                    msg.attachments.append(pending[1])
                    pending = next(att_iter, None)
            yield msg


class _AttachmentSource:
    """Attachment rows (``attachment``, or ``part`` before version 215) with their blobs, in
    message order."""

    def __init__(self, records: _Records, table: str) -> None:
        self.records = records
        self.table = table

    def stream(self, prefix: str) -> Iterator[tuple[int, Attachment]]:
        c = self.records.columns(self.table)
        mid = _pick(c, "message_id", "mid", alias="a.")
        unique = _pick(c, "unique_id", alias="a.")
        join = "b.row_id = a._id" + (f" AND b.attachment_id = {unique}" if unique != "NULL" else "")
        cur = self.records.conn.execute(
            f"SELECT a._id, {mid}, {_pick(c, 'content_type', 'ct', alias='a.')},"
            f" {_pick(c, 'data_size', alias='a.')}, {_pick(c, 'file_name', alias='a.')},"
            f" {_pick(c, 'data_hash_end', 'data_hash', alias='a.')},"
            " b.offset, b.length, b.counter, b.mac_ok"
            f" FROM {self.table} a LEFT JOIN lanterne_blob b ON b.kind = 'attachment' AND {join}"
            f" ORDER BY {mid}, a._id"
        )
        last = None
        for aid, message_id, ctype, size, name, declared, offset, length, counter, ok in cur:
            if not isinstance(message_id, int) or aid == last:
                continue  # pre-upload and wallpaper rows; a second blob of one row
            last = aid
            att = Attachment(
                ref=f"{prefix}/{message_id}/attachment/{aid}",
                opener=None,
                size=size if isinstance(size, int) else None,
                content_type=ctype if isinstance(ctype, str) else None,
                file_name=name if isinstance(name, str) else None,
                declared_sha256=_declared_sha256(declared),
            )
            if not isinstance(offset, int) or not isinstance(counter, int):
                att.problem = ("attachment-missing", "the backup holds no data for it")
            elif not ok:
                att.problem = ("mac-mismatch", f"its data at offset {offset} fails the MAC")
            else:
                blob = _AttachmentBlob(self.records.backup, offset, length, counter)
                att.opener = blob.open
                att.releaser = blob.release
                if isinstance(size, int) and size != length:
                    att.problem = ("size-mismatch", f"{size} bytes in its row, {length} backed up")
            yield message_id, att


def _declared_sha256(value: object) -> str | None:
    """``data_hash_end``: base64 of the plaintext's SHA-256 (hex when it is 32 bytes)."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _attachment_source(records: _Records) -> _AttachmentSource | None:
    for table in ("attachment", "part"):
        if table in records.tables:
            return _AttachmentSource(records, table)
    return None


# --- entry point -----------------------------------------------------------------------------


def open_backup(
    path: Path, passphrase: str, workdir: Path, progress: Progress | None = None
) -> SignalBackup:
    """Restores the backup ``path`` into ``workdir/signal-backup.sqlite`` (replacing one there).

    Raises :class:`WrongPassphrase` when the passphrase does not open it, :class:`NotMyFormat`
    when ``path`` is no Signal backup, :class:`CorruptData` (``unsupported-version``) for a
    format version other than 0 and 1. Damage further in stops the restore with a warning.
    """
    progress = progress or NoProgress()
    path = Path(path)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size
    with path.open("rb") as f:
        header = read_header(f, path.name)
        digits = passphrase_digits(passphrase)
        cipher_key, mac_key = derive_keys(digits, header.salt)
        db_path = workdir / DB_NAME
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("BEGIN")
            progress.start(f"Signal backup {path.name}", total_bytes=size)
            progress.advance(nbytes=header.size)
            restorer = _Restorer(path, f, header, cipher_key, mac_key, conn, progress)
            try:
                restorer.run()
            except _WrongPassphraseStop:
                raise WrongPassphrase(
                    f"the passphrase does not open {path.name}: check the 30 digits"
                    + (f" (it has {len(digits)})" if len(digits) != 30 else "")
                    + " as shown by the app when the backups were turned on"
                ) from None
            finally:
                progress.finish()
            for ddl in _LANTERNE_DDL:
                conn.execute(ddl)
            conn.executemany("INSERT INTO lanterne_blob VALUES (?,?,?,?,?,?,?,?)", restorer.blobs)
            conn.execute("CREATE INDEX lanterne_blob_row ON lanterne_blob (kind, row_id)")
            conn.executemany("INSERT INTO lanterne_key_value VALUES (?,?,?)", restorer.key_values)
            conn.executemany("INSERT INTO lanterne_preference VALUES (?,?,?)", restorer.preferences)
            conn.executemany(
                "INSERT INTO lanterne_skipped_statement VALUES (?,?)", restorer.skipped
            )
            conn.executemany(
                "INSERT INTO lanterne_warning VALUES (?,?,?)",
                [(w.ref, w.reason, w.detail) for w in restorer.warnings],
            )
            complete = restorer.ended and not restorer.warnings
            meta = {
                "source": str(path), "source_size": size, "backup_version": header.version,
                "database_version": restorer.database_version, "iv": header.iv.hex(),
                "salt": header.salt.hex(), "frames": restorer.frames, "rows": restorer.rows,
                "complete": int(complete),
            }  # fmt: skip
            conn.executemany("INSERT INTO lanterne_backup VALUES (?,?)", list(meta.items()))
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            for suffix in ("", "-journal"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            raise
        conn.close()
    return SignalBackup(
        path=path, workdir=workdir, db_path=db_path, backup_version=header.version,
        database_version=restorer.database_version, frames=restorer.frames, rows=restorer.rows,
        complete=complete, warnings=list(restorer.warnings), _cipher_key=cipher_key,
        _mac_key=mac_key, _iv_tail=header.iv[4:],
    )  # fmt: skip
