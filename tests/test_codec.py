"""The frame format between worker and grader: round trips, and refusal of anything forged."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest

from grader.wire.channel import FrameReader
from grader.wire.codec import MAGIC, PREFIX, FrameError, FrameLimits, decode, encode, parse_prefix


def roundtrip(message, limits=None):
    limits = limits or FrameLimits()
    data = encode(message)
    header_len, body_len = parse_prefix(data[: PREFIX.size], limits)
    header = data[PREFIX.size : PREFIX.size + header_len]
    return decode(header, data[PREFIX.size + header_len :], limits)


def frame(header: dict, body: bytes = b"") -> tuple[bytes, bytes]:
    return json.dumps(header).encode(), body


def test_nested_plain_data_round_trips():
    message = {
        "hs": np.arange(24, dtype=np.float64).reshape(2, 3, 4),
        "ids": np.array([1, 2, 3], dtype=np.int64),
        "mask": np.array([True, False]),
        "half": np.ones(3, dtype=np.float16),
        "empty": np.zeros((0, 5), dtype=np.float32),
        "nested": [{"loss": 1.5, "nan": float("nan")}, "ohlol", None, True, 7],
    }
    back = roundtrip(message)
    for key in ("hs", "ids", "mask", "half", "empty"):
        assert back[key].dtype == message[key].dtype and back[key].shape == message[key].shape
        np.testing.assert_array_equal(back[key], message[key])
    assert back["nested"][0]["loss"] == 1.5 and np.isnan(back["nested"][0]["nan"])
    assert back["nested"][1:] == ["ohlol", None, True, 7]
    assert back["hs"].flags.writeable and type(back["hs"]) is np.ndarray


def test_big_endian_arrays_arrive_little_endian():
    value = np.arange(4, dtype=">f8")
    back = roundtrip({"x": value})["x"]
    assert back.dtype == np.dtype("<f8")
    np.testing.assert_array_equal(back, value)


@pytest.mark.parametrize(
    "value", [np.array([object()], dtype=object), np.array([1 + 2j]), {1: "int key"}, {"x": {1, 2}}]
)
def test_encoding_refuses_what_is_not_plain_data(value):
    with pytest.raises(TypeError):
        encode(value)


@pytest.mark.parametrize("dtype", ["|O", "<c16", "|V8", "<M8[s]", "|S4", "object"])
def test_decoding_refuses_other_dtypes(dtype):
    header, body = frame({"msg": {"__nd__": 0}, "arrays": [{"dtype": dtype, "shape": [1], "offset": 0}]}, b"\0" * 16)
    with pytest.raises(FrameError, match="not allowed"):
        decode(header, body)


def test_a_pickle_payload_is_never_unpickled(tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    blob = pickle.dumps(Payload())
    header, _ = frame({"msg": {"__nd__": 0}, "arrays": [{"dtype": "|O", "shape": [1], "offset": 0}]})
    with pytest.raises(FrameError):
        decode(header, blob)
    with pytest.raises(FrameError):
        decode(blob, b"")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "spec, body",
    [
        ({"dtype": "<f8", "shape": [10], "offset": 0}, b"\0" * 16),  # past the end
        ({"dtype": "<f8", "shape": [1], "offset": -8}, b"\0" * 16),  # negative offset
        ({"dtype": "<f8", "shape": [-1], "offset": 0}, b"\0" * 16),  # negative size
        ({"dtype": "<f8", "shape": [1] * 40, "offset": 0}, b"\0" * 16),  # absurd rank
        ({"dtype": "<f8", "shape": "12", "offset": 0}, b"\0" * 16),  # wrong type
        ({"dtype": [], "shape": [1], "offset": 0}, b"\0" * 16),  # unhashable dtype
        ({"dtype": {"<f8": 1}, "shape": [1], "offset": 0}, b"\0" * 16),
        ({"dtype": "<f8", "shape": [0, 10**30], "offset": 0}, b""),  # empty, yet numpy cannot build it
        ({"dtype": "<f8", "shape": [0, 2**31, 2**31, 2**31], "offset": 0}, b""),
        ({"dtype": "<f8", "shape": [2**62, 0], "offset": 0}, b""),
        ([1, 2], b""),  # not a description at all
    ],
)
def test_forged_array_descriptions_are_refused(spec, body):
    header, body = frame({"msg": {"__nd__": 0}, "arrays": [spec]}, body)
    with pytest.raises(FrameError):
        decode(header, body)


def test_array_reference_out_of_range_and_bad_headers():
    with pytest.raises(FrameError, match="out of range"):
        decode(*frame({"msg": {"__nd__": 3}, "arrays": []}))
    with pytest.raises(FrameError):
        decode(b"{not json", b"")
    with pytest.raises(FrameError):
        decode(b'{"arrays": []}', b"")
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(FrameError):
        decode(('{"msg": ' + deep + ', "arrays": []}').encode(), b"")


def test_a_frame_never_unpacks_to_more_than_it_carries():
    """A forged reply that names one array many times (by reference, or by descriptions that overlap in
    the body) made the trusted side copy it once per mention: 4 MB sent, all the host's memory used."""
    body = np.arange(4, dtype="<f8").tobytes()
    whole = {"dtype": "<f8", "shape": [4], "offset": 0}
    with pytest.raises(FrameError, match="referred to twice"):
        decode(*frame({"msg": [{"__nd__": 0}, {"__nd__": 0}], "arrays": [whole]}, body))
    with pytest.raises(FrameError, match="more bytes than the frame carries"):
        decode(*frame({"msg": [{"__nd__": 0}, {"__nd__": 1}], "arrays": [whole, whole]}, body))
    same = np.ones(3)
    decoded = roundtrip({"a": same, "b": [same, same]})  # one array sent three times: three copies, fine
    assert [value.tolist() for value in (decoded["a"], *decoded["b"])] == [[1.0] * 3] * 3


def test_a_header_of_millions_of_items_is_refused_before_parsing():
    """11 million empty dicts fit in 30 MB of header and took 5 GB and minutes to parse."""
    header = json.dumps({"msg": [{}] * 300_001, "arrays": []}).encode()
    with pytest.raises(FrameError, match="more than 200000 items"):
        decode(header, b"")
    assert roundtrip({"words": ["a,{b}"] * 1000, "losses": list(range(5000))})["losses"][-1] == 4999


def test_sizes_are_checked_before_anything_is_allocated():
    limits = FrameLimits(max_header_bytes=100, max_body_bytes=1000)
    with pytest.raises(FrameError, match="bad magic"):
        parse_prefix(struct.pack("<4sIQ", b"EVIL", 1, 1), limits)
    with pytest.raises(FrameError, match="header"):
        parse_prefix(struct.pack("<4sIQ", MAGIC, 10**9, 0), limits)
    with pytest.raises(FrameError, match="exceeds the limit"):
        parse_prefix(struct.pack("<4sIQ", MAGIC, 10, 10**12), limits)


def test_frame_reader_reassembles_byte_by_byte():
    data = encode({"a": np.arange(5)}) + encode({"b": "second"})
    reader = FrameReader()
    received = []
    for index in range(len(data)):
        received += reader.feed(data[index : index + 1])
    assert len(received) == 2 and received[1] == {"b": "second"}
    np.testing.assert_array_equal(received[0]["a"], np.arange(5))


def test_a_tagged_reply_is_read_only_with_its_own_tag():
    """The replies of a student's process carry an HMAC under a key only the grader's code there holds:
    bytes its student code writes or rewrites on the pipe (a hostile round's relay) are refused."""
    from grader.wire.channel import TAG_SIZE, FrameReader, tag

    key = b"k" * 32
    frame = encode({"ok": True, "data": {"steps": 15}})
    assert FrameReader(key=key).feed(frame + tag(key, frame)) == [{"ok": True, "data": {"steps": 15}}]
    reader = FrameReader(key=key)
    assert reader.feed(frame) == [] and reader.feed(tag(key, frame)[:-1]) == []  # waits for the whole tag
    forged = frame.replace(b"15", b"99")
    with pytest.raises(FrameError):
        FrameReader(key=key).feed(forged + tag(b"x" * 32, forged))
    with pytest.raises(FrameError):
        FrameReader(key=key).feed(frame + bytes(TAG_SIZE))
    # each tag covers the frame's number: a reply sent again, or in a later one's place, is refused
    reader = FrameReader(key=key)
    assert reader.feed(frame + tag(key, frame, 0)) and reader.feed(frame + tag(key, frame, 1))
    with pytest.raises(FrameError):
        reader.feed(frame + tag(key, frame, 1))
