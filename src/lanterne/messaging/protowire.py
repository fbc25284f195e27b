"""A small hand-written protobuf wire codec, enough for Signal's ``Backups.proto``.

The protobuf wire format in brief (https://protobuf.dev/programming-guides/encoding/): a message
is a sequence of fields, each a *tag* then a value. The tag is a varint ``field_number << 3 |
wire_type``; a varint is little-endian base-128, seven bits a byte, the high bit set on every
byte but the last (at most ten bytes for 64 bits). The wire types used here:

=====  ================  =========================================================
type   name              value
=====  ================  =========================================================
0      VARINT            a varint: int32/int64/uint32/uint64/bool/enum
1      I64 (fixed64)     eight bytes little-endian: ``double``, ``fixed64``
2      LEN               a varint length then that many bytes: string, bytes,
                         embedded message, packed repeated field
5      I32 (fixed32)     four bytes little-endian: ``float``, ``fixed32``
=====  ================  =========================================================

Fields may come in any order and repeat (a repeated field is one entry per value); a reader keeps
every occurrence. Negative ``int64`` values travel as ten-byte two's-complement varints; Signal's
``SqlParameter.integerParameter`` is a ``uint64`` carrying Java ``long`` values, so a reader turns
values ≥ 2⁶³ back into negative numbers (:func:`to_int64`).

:func:`decode` gives the generic view ``{field_number: [values]}``; :func:`sql_parameters` is the
hot path of the Signal backup reader (a million ``SqlStatement`` frames for a large backup) and
decodes the repeated ``SqlParameter`` messages straight into the Python values SQLite binds.
Encoders (:func:`varint`, :func:`field_varint`, :func:`field_bytes` …) serve the synthetic
backup writer.

All decoders raise :class:`WireError` (a ``ValueError``) on malformed input: truncated varints
or lengths running past the end of the buffer.
"""

from __future__ import annotations

import struct

import numba
import numpy as np
import numpy.typing as npt

__all__ = [
    "WireError",
    "decode",
    "field_bool",
    "field_bytes",
    "field_double",
    "field_fixed32",
    "field_varint",
    "read_varint",
    "sql_parameters",
    "statement_batch",
    "statement_text",
    "to_int64",
    "varint",
]

_U64 = 1 << 64
_I64_MIN_AS_U64 = 1 << 63
_DOUBLE = struct.Struct("<d")

SqlValue = str | int | float | bytes | None
"""A value SQLite binds: what one ``SqlParameter`` decodes to."""


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def to_int64(value: int) -> int:
    """A ``uint64`` read from the wire as the signed 64-bit value it carries."""
    return value - _U64 if value >= _I64_MIN_AS_U64 else value


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``buf[pos]``: (value, position after it)."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than ten bytes")


def decode(buf: bytes, start: int = 0, end: int | None = None) -> dict[int, list[int | bytes]]:
    """One message as ``{field_number: [values]}``, values in wire order.

    VARINT fields give an ``int`` (unsigned; see :func:`to_int64`), LEN fields the raw ``bytes``
    (decode strings and embedded messages yourself), I64 and I32 fields their raw eight or four
    bytes (``struct.unpack("<d", v)`` for a double).
    """
    if end is None:
        end = len(buf)
    elif end > len(buf):
        raise WireError("message runs past the end of the buffer")
    fields: dict[int, list[int | bytes]] = {}
    pos = start
    while pos < end:
        tag, pos = read_varint(buf, pos)
        number = tag >> 3
        wire = tag & 7
        value: int | bytes
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > end:
                raise WireError(f"field {number}: length {length} runs past the message")
            value = buf[pos : pos + length]
            pos += length
        elif wire == 1:
            if pos + 8 > end:
                raise WireError(f"field {number}: truncated fixed64")
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 5:
            if pos + 4 > end:
                raise WireError(f"field {number}: truncated fixed32")
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise WireError(f"field {number}: unsupported wire type {wire}")
        if number == 0:
            raise WireError("field number 0")
        fields.setdefault(number, []).append(value)
    if pos != end:
        raise WireError("message runs past its end")
    return fields


def _skip(buf: bytes, pos: int, end: int, wire: int) -> int:
    """Position after the value of a field of wire type ``wire`` starting at ``pos``."""
    if wire == 0:
        return read_varint(buf, pos)[1]
    if wire == 2:
        length, pos = read_varint(buf, pos)
        return pos + length
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    raise WireError(f"unsupported wire type {wire}")


def _parameter(buf: bytes, pos: int, end: int) -> SqlValue:
    """One ``SqlParameter`` in ``buf[pos:end]`` (the general, slow path)."""
    value: SqlValue = None
    while pos < end:
        tag, pos = read_varint(buf, pos)
        number = tag >> 3
        wire = tag & 7
        if number == 1 and wire == 2:  # stringParamter (sic)
            length, pos = read_varint(buf, pos)
            value = buf[pos : pos + length].decode("utf-8", "replace")
            pos += length
        elif number == 2 and wire == 0:  # integerParameter, uint64
            raw, pos = read_varint(buf, pos)
            value = to_int64(raw)
        elif number == 3 and wire == 1:  # doubleParameter
            value = _DOUBLE.unpack_from(buf, pos)[0]
            pos += 8
        elif number == 4 and wire == 2:  # blobParameter
            length, pos = read_varint(buf, pos)
            value = buf[pos : pos + length]
            pos += length
        elif number == 5 and wire == 0:  # nullparameter
            pos = read_varint(buf, pos)[1]
            value = None
        else:
            pos = _skip(buf, pos, end, wire)
    if pos != end:
        raise WireError("SqlParameter runs past its end")
    return value


def sql_parameters(buf: bytes, pos: int, end: int) -> list[SqlValue]:
    """The repeated ``parameters`` (field 2) of a ``SqlStatement`` in ``buf[pos:end]``.

    ``SqlStatement { string statement = 1; repeated SqlParameter parameters = 2; }`` and
    ``SqlParameter { string stringParamter = 1; uint64 integerParameter = 2; double
    doubleParameter = 3; bytes blobParameter = 4; bool nullparameter = 5; }``. Other fields of
    the statement (the statement text) are skipped: see :func:`statement_text`. Integers come
    back signed (two's complement, as Java wrote them), strings decoded from UTF-8 (invalid bytes
    replaced), blobs as ``bytes``, ``nullparameter`` (or an empty parameter) as None.

    The exporter writes each parameter with exactly one field, so the common shapes (one-byte
    lengths, small integers, null) are decoded inline; anything else takes the general path.
    """
    out: list[SqlValue] = []
    append = out.append
    if end > len(buf):
        raise WireError("statement runs past the end of the buffer")
    while pos < end:
        tag = buf[pos]
        if tag != 0x12:  # not a parameter (statement text, or an unknown field): skip it
            t, pos = read_varint(buf, pos)
            pos = _skip(buf, pos, end, t & 7)
            continue
        length = buf[pos + 1]
        if length < 0x80:
            p = pos + 2
        else:
            length, p = read_varint(buf, pos + 1)
        pend = p + length
        if pend > end:
            raise WireError("SqlParameter runs past the statement")
        pos = pend
        if length == 0:
            append(None)
            continue
        inner = buf[p]
        if inner == 0x10:  # integerParameter
            b = buf[p + 1]
            if b < 0x80 and pend == p + 2:
                append(b)
                continue
            raw, q = read_varint(buf, p + 1)
            if q == pend:
                append(raw - _U64 if raw >= _I64_MIN_AS_U64 else raw)
                continue
        elif inner == 0x28:  # nullparameter
            if pend == p + 2:
                append(None)
                continue
        elif inner == 0x0A:  # stringParamter
            n = buf[p + 1]
            if n < 0x80 and pend == p + 2 + n:
                append(buf[p + 2 : pend].decode("utf-8", "replace"))
                continue
        elif inner == 0x22:  # blobParameter
            n = buf[p + 1]
            if n < 0x80 and pend == p + 2 + n:
                append(buf[p + 2 : pend])
                continue
        elif inner == 0x19 and pend == p + 9:  # doubleParameter
            append(_DOUBLE.unpack_from(buf, p + 1)[0])
            continue
        append(_parameter(buf, p, pend))
    if pos != end:
        raise WireError("statement runs past its end")
    return out


def statement_text(buf: bytes, pos: int, end: int) -> bytes:
    """The ``statement`` (field 1) of a ``SqlStatement`` in ``buf[pos:end]``, as UTF-8 bytes.

    The exporter writes it first, so this is normally one tag and one length; ``b""`` when the
    field is absent.
    """
    while pos < end:
        tag, pos = read_varint(buf, pos)
        if tag == 0x0A:
            length, pos = read_varint(buf, pos)
            if pos + length > end:
                raise WireError("statement text runs past the statement")
            return buf[pos : pos + length]
        pos = _skip(buf, pos, end, tag & 7)
    return b""


# --- encoding ------------------------------------------------------------------------------

_SMALL_VARINTS = [bytes([i]) for i in range(128)]


def varint(value: int) -> bytes:
    """``value`` (0 ≤ value < 2⁶⁴; negative int64 are written as their uint64) as a varint."""
    if value < 0:
        value += _U64
    if value < 0x80:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    """A VARINT field (int, uint64, negative int64 as ten bytes)."""
    return varint(number << 3) + varint(value)


def field_bool(number: int, value: bool) -> bytes:
    return varint(number << 3) + (b"\x01" if value else b"\x00")


def field_bytes(number: int, data: bytes) -> bytes:
    """A LEN field: bytes, a UTF-8 string, or an encoded embedded message."""
    return varint(number << 3 | 2) + varint(len(data)) + data


def field_double(number: int, value: float) -> bytes:
    return varint(number << 3 | 1) + _DOUBLE.pack(value)


def field_fixed32(number: int, value: int) -> bytes:
    return varint(number << 3 | 5) + (value & 0xFFFFFFFF).to_bytes(4, "little")


# --- batch decoding of statement frames (compiled) -----------------------------------------

KIND_NULL = 0
KIND_INT = 1
KIND_STR = 2
KIND_BLOB = 3
KIND_DOUBLE = 4
"""Parameter kinds :func:`statement_batch` reports (``double`` values as their IEEE bits)."""


@numba.njit(cache=True, nogil=True)
def _nb_varint(buf: npt.NDArray[np.uint8], pos: int, end: int) -> tuple[int, int]:
    """(value as int64 two's complement, position after); position −1 when malformed."""
    result = 0
    shift = 0
    while pos < end and shift < 70:
        b = int(buf[pos])
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    return 0, -1


@numba.njit(cache=True, nogil=True)
def _nb_skip(buf: npt.NDArray[np.uint8], pos: int, end: int, wire: int) -> int:
    if wire == 0:
        return _nb_varint(buf, pos, end)[1]
    if wire == 2:
        length, pos = _nb_varint(buf, pos, end)
        if pos < 0 or length < 0 or pos + length > end:
            return -1
        return pos + length
    if wire == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wire == 5:
        return pos + 4 if pos + 4 <= end else -1
    return -1


@numba.njit(cache=True, nogil=True)
def _nb_statement_extent(
    pt: npt.NDArray[np.uint8], start: int, end: int
) -> tuple[int, int, int, int]:
    """For one frame ``pt[start:end]`` holding ``BackupFrame { statement = 2 }``: (position of
    the SqlStatement body, its end, statement text start, text end); (−1, …) when the frame
    is anything else."""
    if end - start < 2 or pt[start] != 0x12:
        return -1, 0, 0, 0
    length, p = _nb_varint(pt, start + 1, end)
    if p < 0 or p + length != end:
        return -1, 0, 0, 0
    s0 = -1
    s1 = -1
    q = p
    while q < end:
        tag, q = _nb_varint(pt, q, end)
        if q < 0:
            return -1, 0, 0, 0
        if tag == 0x0A:
            n, r = _nb_varint(pt, q, end)
            if r < 0 or n < 0 or r + n > end:
                return -1, 0, 0, 0
            s0 = r
            s1 = r + n
            q = r + n
        else:
            q = _nb_skip(pt, q, end, tag & 7)
            if q < 0:
                return -1, 0, 0, 0
    if s0 < 0:
        return -1, 0, 0, 0
    return p, end, s0, s1


@numba.njit(cache=True, nogil=True)
def statement_batch(pt: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], n: int) -> tuple[
    npt.NDArray[np.uint8],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.uint8],
    npt.NDArray[np.uint8],
]:  # fmt: skip
    """Decodes ``n`` statement frames laid end to end in ``pt`` (frame i is
    ``pt[offsets[i]:offsets[i + 1]]``, each a whole decrypted ``BackupFrame``).

    Returns ``kinds, values, starts, ends`` per parameter (``KIND_*``; ``values`` holds integers
    as signed int64 and doubles as their bits; ``starts``/``ends`` locate strings and blobs in
    ``pt``), then per frame ``first`` (index of its first parameter; ``first[n]`` is the total),
    ``text_start``, ``text_end`` (its statement text), ``ok`` (0: not a well-formed statement
    frame, decode it the slow way) and ``same`` (1: same statement text as the frame before).

    When a ``SqlParameter`` carries several fields (the exporter never writes that) the first
    present of string, double, integer, blob, null wins, as in the app's importer.
    """
    # pass 1: count the parameters
    total = 0
    for i in range(n):
        p, end, _s0, _s1 = _nb_statement_extent(pt, offsets[i], offsets[i + 1])
        if p < 0:
            continue
        q = p
        while q < end:
            tag, q = _nb_varint(pt, q, end)
            if q < 0:
                break
            if tag == 0x12:
                total += 1
            q = _nb_skip(pt, q, end, tag & 7)
            if q < 0:
                break
    kinds = np.zeros(total, np.uint8)
    values = np.zeros(total, np.int64)
    starts = np.zeros(total, np.int64)
    ends = np.zeros(total, np.int64)
    first = np.zeros(n + 1, np.int64)
    text_start = np.zeros(n, np.int64)
    text_end = np.zeros(n, np.int64)
    ok = np.zeros(n, np.uint8)
    same = np.zeros(n, np.uint8)
    k = 0
    for i in range(n):
        first[i] = k
        p, end, s0, s1 = _nb_statement_extent(pt, offsets[i], offsets[i + 1])
        if p < 0:
            continue
        text_start[i] = s0
        text_end[i] = s1
        good = True
        k0 = k
        q = p
        while q < end:
            tag, q = _nb_varint(pt, q, end)
            if q < 0:
                good = False
                break
            if tag != 0x12:
                q = _nb_skip(pt, q, end, tag & 7)
                if q < 0:
                    good = False
                    break
                continue
            length, r = _nb_varint(pt, q, end)
            if r < 0 or length < 0 or r + length > end:
                good = False
                break
            pend = r + length
            q = pend
            # one SqlParameter in pt[r:pend]
            has_str = False
            has_dbl = False
            has_int = False
            has_blob = False
            sv0 = 0
            sv1 = 0
            bv0 = 0
            bv1 = 0
            iv = 0
            dv = 0
            while r < pend:
                t, r = _nb_varint(pt, r, pend)
                if r < 0:
                    good = False
                    break
                if t == 0x0A or t == 0x22:
                    m, r2 = _nb_varint(pt, r, pend)
                    if r2 < 0 or m < 0 or r2 + m > pend:
                        good = False
                        break
                    if t == 0x0A:
                        has_str = True
                        sv0 = r2
                        sv1 = r2 + m
                    else:
                        has_blob = True
                        bv0 = r2
                        bv1 = r2 + m
                    r = r2 + m
                elif t == 0x10:
                    iv, r = _nb_varint(pt, r, pend)
                    has_int = True
                elif t == 0x19:
                    if r + 8 > pend:
                        good = False
                        break
                    dv = 0
                    for b in range(8):
                        dv |= int(pt[r + b]) << (8 * b)
                    has_dbl = True
                    r += 8
                else:
                    r = _nb_skip(pt, r, pend, t & 7)
                if r < 0:
                    good = False
                    break
            if not good:
                break
            if has_str:
                kinds[k] = KIND_STR
                starts[k] = sv0
                ends[k] = sv1
            elif has_dbl:
                kinds[k] = KIND_DOUBLE
                values[k] = dv
            elif has_int:
                kinds[k] = KIND_INT
                values[k] = iv
            elif has_blob:
                kinds[k] = KIND_BLOB
                starts[k] = bv0
                ends[k] = bv1
            else:
                kinds[k] = KIND_NULL
            k += 1
        if not good:
            k = k0
            continue
        ok[i] = 1
        if i > 0 and ok[i - 1] == 1 and text_end[i - 1] - text_start[i - 1] == s1 - s0:
            eq = True
            a = text_start[i - 1]
            for b in range(s1 - s0):
                if pt[a + b] != pt[s0 + b]:
                    eq = False
                    break
            if eq:
                same[i] = 1
    first[n] = k
    return kinds, values, starts, ends, first, text_start, text_end, ok, same
