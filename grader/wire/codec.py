"""Plain-data frames: the only thing that crosses between a sandboxed worker and the trusted grader.

A frame is ``MAGIC | header length (u32) | body length (u64) | JSON header | body``. The header holds
the message with every numpy array replaced by ``{"__nd__": i}``; array ``i`` is described in the
header's ``arrays`` list (dtype, shape, offset) and its raw bytes live in the body. Decoding builds
arrays with ``np.frombuffer`` from a short whitelist of dtypes, so nothing a student process sends can
execute code on arrival (no pickle, no object arrays), and every size is checked before allocation.

This module is imported inside the sandbox too, so it depends on the standard library and numpy only.
"""

from __future__ import annotations

import functools
import json
import json.encoder
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"RNG1"
PREFIX = struct.Struct("<4sIQ")

# Little-endian dtypes a result may carry. Anything else is refused rather than interpreted.
ALLOWED_DTYPES = frozenset(["|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"])
ARRAY_TAG = "__nd__"
MAX_DEPTH = 64


class FrameError(ValueError):
    """The bytes received are not a well-formed frame (corrupt, truncated, oversized, or forged)."""


@dataclass(frozen=True)
class FrameLimits:
    """Caps checked before anything is allocated on the receiving side."""

    max_header_bytes: int = 32 * 2**20
    max_body_bytes: int = 256 * 2**20
    max_arrays: int = 10_000
    max_ndim: int = 16
    max_items: int = 200_000  # JSON containers and separators in a header: what parsing it builds


DEFAULT_LIMITS = FrameLimits()


def encode(message: Any) -> bytes:
    """Serialise plain data (dicts with str keys, lists, str, int, float, bool, None, ndarrays)."""
    arrays: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    offset = 0

    def walk(value: Any, depth: int) -> Any:
        nonlocal offset
        if depth > MAX_DEPTH:
            raise TypeError("data nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return walk(value.item(), depth)
        if isinstance(value, np.ndarray):
            array = _little_endian(value)
            raw = array.tobytes()
            arrays.append({"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset})
            chunks.append(raw)
            offset += len(raw)
            return {ARRAY_TAG: len(arrays) - 1}
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(f"dict keys must be str, not {type(key).__name__}")
                out[key] = walk(item, depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            return [walk(item, depth + 1) for item in value]
        raise TypeError(f"cannot send a {type(value).__name__} as plain data")

    payload = walk(message, 0)
    header = _json_text({"msg": payload, "arrays": arrays}).encode("utf-8")
    return PREFIX.pack(MAGIC, len(header), offset) + header + b"".join(chunks)


def _refuse(value: Any) -> Any:
    raise TypeError(f"cannot send a {type(value).__name__} as plain data")


def _bound_json_encoder() -> Callable[[Any], str]:
    """JSON text by the C encoder, bound when this module is imported: the student's process imports it
    before the student's code runs, so a ``json.dumps`` replaced there later (through an alias the
    integrity scan cannot follow) does not change a reply before it is tagged (grader.wire.channel)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - a Python without the C accelerator
        return functools.partial(json.dumps, allow_nan=True)
    encoder = make(None, _refuse, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    join = "".join
    return lambda value: join(encoder(value, 0))


_json_text = _bound_json_encoder()


def _little_endian(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"arrays of dtype {array.dtype} cannot be sent (numbers and booleans only)")
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array


def parse_prefix(prefix: bytes, limits: FrameLimits = DEFAULT_LIMITS) -> tuple[int, int]:
    """Validate the fixed-size prefix; return (header length, body length)."""
    if len(prefix) != PREFIX.size:
        raise FrameError("truncated frame prefix")
    magic, header_len, body_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise FrameError("not a grader frame (bad magic bytes)")
    if header_len > limits.max_header_bytes:
        raise FrameError(f"frame header of {header_len} bytes exceeds {limits.max_header_bytes}")
    if body_len > limits.max_body_bytes:
        raise FrameError(f"result of {body_len} bytes exceeds the limit of {limits.max_body_bytes}")
    return header_len, body_len


def decode(header: bytes, body: bytes, limits: FrameLimits = DEFAULT_LIMITS) -> Any:
    """Rebuild the message from a header and body, validating every array description."""
    # Counted on the bytes before parsing: 30 MB of "{}," parse into 11 million dicts (5 GB, minutes).
    items = header.count(b"{") + header.count(b"[") + header.count(b",")
    if items > limits.max_items:
        raise FrameError(f"frame header holds more than {limits.max_items} items")
    try:
        parsed = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FrameError(f"frame header is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or "msg" not in parsed or not isinstance(parsed.get("arrays"), list):
        raise FrameError("frame header has the wrong structure")
    specs = parsed["arrays"]
    if len(specs) > limits.max_arrays:
        raise FrameError(f"frame holds {len(specs)} arrays, more than {limits.max_arrays}")
    # encode() lays the arrays end to end and refers to each once: descriptions that overlap in the body,
    # or a reference used twice, would make the receiver hold many copies of the bytes actually sent.
    arrays: list[np.ndarray] = []
    unclaimed = len(body)
    try:
        for spec in specs:
            arrays.append(_array_from(spec, body, limits, unclaimed))
            unclaimed -= arrays[-1].nbytes
    except FrameError:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:  # a description numpy refuses
        raise FrameError(f"bad array description ({type(exc).__name__})") from None
    referred: set[int] = set()

    def walk(value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise FrameError("data nested too deeply")
        if isinstance(value, dict):
            if set(value) == {ARRAY_TAG}:
                index = value[ARRAY_TAG]
                if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(arrays):
                    raise FrameError("array reference out of range")
                if index in referred:
                    raise FrameError("an array is referred to twice")
                referred.add(index)
                return arrays[index]
            return {key: walk(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, depth + 1) for item in value]
        return value

    return walk(parsed["msg"], 0)


def _array_from(spec: Any, body: bytes, limits: FrameLimits, unclaimed: int) -> np.ndarray:
    """The array ``spec`` describes, copied out of ``body``; its bytes must fit in the ``unclaimed``
    bytes that earlier arrays of the frame left."""
    if not isinstance(spec, dict):
        raise FrameError("bad array description")
    dtype, shape, offset = spec.get("dtype"), spec.get("shape"), spec.get("offset")
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise FrameError(f"array dtype {dtype!r} is not allowed")
    if (
        not isinstance(shape, list)
        or len(shape) > limits.max_ndim
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise FrameError("bad array shape")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise FrameError("bad array offset")
    dt = np.dtype(dtype)
    if math.prod(max(n, 1) for n in shape) * dt.itemsize > limits.max_body_bytes:
        raise FrameError("bad array shape")  # even an empty array's other dimensions must be allocatable
    count = math.prod(shape)
    nbytes = count * dt.itemsize
    if offset + nbytes > len(body):
        raise FrameError("array extends past the end of the frame")
    if nbytes > unclaimed:
        raise FrameError("the arrays described hold more bytes than the frame carries")
    if count == 0:
        return np.zeros(shape, dtype=dt)
    flat = np.frombuffer(body, dtype=dt, count=count, offset=offset)
    return flat.reshape(shape).copy()
