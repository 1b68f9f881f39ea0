"""The V2 codec against the real tritonclient: its request bodies decode, our responses parse."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mlfactory.errors import BadInputError
from mlfactory.serving.v2codec import (
    DATATYPES,
    HEADER_LENGTH,
    InferRequest,
    Tensor,
    V2Error,
    datatype_of,
    decode_request,
    encode_response,
)

NUMERIC: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sample(datatype: str, shape: tuple[int, ...] = (2, 3)) -> np.ndarray[Any, Any]:
    """A small array of ``datatype`` that uses the type's extremes where it has them."""
    size = int(np.prod(shape))
    if datatype == "BYTES":
        values = [b"", b"a\x00b", "é".encode(), b"x" * 300] * size
        out = np.empty(size, dtype=object)
        out[:] = values[:size]
        return out.reshape(shape)
    dtype = np.dtype(NUMERIC[datatype])
    if dtype.kind == "b":
        flags: np.ndarray[Any, Any] = np.arange(size) % 2 == 0
        return flags.reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.resize(np.array([info.min, info.max, 0, 1, 7], dtype=dtype), shape)
    return np.resize(np.array([0.5, -1.25, 3.0e4, 1e-3, 7], dtype=dtype), shape)


def client_request(
    arrays: dict[str, tuple[np.ndarray[Any, Any], bool]], **kwargs: Any
) -> tuple[bytes, dict[str, str]]:
    """The body and headers tritonclient's HTTP client would send for these inputs."""
    inputs = []
    for name, (array, binary) in arrays.items():
        tensor = triton.InferInput(name, list(array.shape), datatype_of(array))
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs, **kwargs)
    headers = {} if json_size is None else {HEADER_LENGTH: str(json_size)}
    return body, headers


def client_parse(body: bytes, headers: dict[str, str]) -> Any:
    """What tritonclient's ``InferResult`` makes of a response we encoded."""
    length = headers.get(HEADER_LENGTH)
    return triton.InferenceServerClient.parse_response_body(
        body, verbose=False, header_length=None if length is None else int(length)
    )


def assert_same(tensor: Tensor, name: str, expected: np.ndarray[Any, Any]) -> None:
    assert tensor.name == name
    assert tensor.datatype == datatype_of(expected)
    assert tensor.shape == expected.shape
    assert tensor.data.dtype == expected.dtype
    np.testing.assert_array_equal(tensor.data, expected)


# --- requests from tritonclient -------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", sorted(DATATYPES))
def test_every_datatype_from_tritonclient_round_trips(datatype: str, binary: bool) -> None:
    expected = sample(datatype)
    body, headers = client_request({"x": (expected, binary)})
    request = decode_request(body, headers)
    (tensor,) = request.inputs
    assert_same(tensor, "x", expected)
    assert tensor.data.flags.writeable


def test_mixed_binary_and_json_inputs_in_one_request() -> None:
    arrays = {
        "image": (sample("FP32", (1, 2, 2, 3)), True),
        "mask": (sample("BOOL", (4,)), False),
        "tokens": (sample("BYTES", (2, 2)), True),
        "ids": (sample("INT64", (3,)), False),
        "empty": (np.zeros((0, 5), dtype=np.float64), True),
        "label": (sample("BYTES", (3,)), False),
        "scalar": (np.array(42, dtype=np.uint16), True),
    }
    body, headers = client_request(arrays, request_id="req-7", parameters={"tenant": "acme"})

    request = decode_request(body, headers)

    assert request.id == "req-7"
    assert request.parameters == {"tenant": "acme", "binary_data_output": True}
    assert [t.name for t in request.inputs] == list(arrays)
    for tensor, (name, (array, _)) in zip(request.inputs, arrays.items(), strict=True):
        assert_same(tensor, name, array)


def test_headers_are_read_case_insensitively() -> None:
    body, headers = client_request({"x": (sample("FP64"), True)})
    lower = {key.lower(): value for key, value in headers.items()}
    assert decode_request(body, lower).inputs[0].shape == (2, 3)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request_body_is_decompressed(algorithm: str) -> None:
    body, headers = client_request({"x": (sample("INT32"), True), "s": (sample("BYTES"), True)})
    # What tritonclient's infer(request_compression_algorithm=...) puts on the wire.
    packed = gzip.compress(body) if algorithm == "gzip" else zlib.compress(body)
    request = decode_request(packed, {**headers, "Content-Encoding": algorithm})
    assert_same(request.inputs[0], "x", sample("INT32"))
    assert_same(request.inputs[1], "s", sample("BYTES"))


def test_outputs_default_to_all_binary_as_tritonclient_asks() -> None:
    body, headers = client_request({"x": (sample("FP32"), True)})
    request = decode_request(body, headers)
    assert request.outputs is None
    assert request.binary_outputs is True


def test_requested_outputs_choose_binary_one_by_one() -> None:
    outputs = [
        triton.InferRequestedOutput("probabilities", binary_data=True),
        triton.InferRequestedOutput("label", binary_data=False),
    ]
    body, headers = client_request({"x": (sample("FP32"), False)}, outputs=outputs)
    request = decode_request(body, headers)
    assert request.outputs == ["probabilities", "label"]
    assert request.binary_outputs == frozenset({"probabilities"})


def test_per_output_binary_data_overrides_binary_data_output() -> None:
    doc = {
        "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}],
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
    }
    request = decode_request(json.dumps(doc).encode(), {})
    assert request.outputs == ["a", "b"]
    assert request.binary_outputs == frozenset({"a"})


def test_plain_json_request_without_binary_extension() -> None:
    doc = {
        "inputs": [
            {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2.5], [3, 4]]},
            {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["hello", "wörld"]},
            {"name": "z", "shape": [1], "datatype": "FP64", "data": [float("nan")]},
        ],
        "outputs": [{"name": "y"}],
    }
    request = decode_request(json.dumps(doc).encode(), {"Content-Type": "application/json"})
    assert request.id is None
    assert request.parameters == {}
    assert request.binary_outputs == frozenset()
    np.testing.assert_array_equal(
        request.inputs[0].data, np.array([[1, 2.5], [3, 4]], dtype=np.float32)
    )
    assert request.inputs[1].data.tolist() == [b"hello", "wörld".encode()]
    assert np.isnan(request.inputs[2].data[0])


# --- responses parsed by tritonclient -------------------------------------------------------


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
def test_binary_outputs_parse_with_tritonclient(datatype: str) -> None:
    data = sample(datatype)
    output = Tensor("y", datatype, data.shape, data)
    body, headers = encode_response(
        model_name="iris", model_version="3", request_id="r1", outputs=[output], binary=True
    )
    assert headers["Content-Type"] == "application/octet-stream"
    result = client_parse(body, headers)
    np.testing.assert_array_equal(result.as_numpy("y"), data)
    assert result.get_response()["id"] == "r1"
    assert result.get_response()["model_version"] == "3"


@pytest.mark.parametrize("datatype", sorted(NUMERIC))
def test_json_outputs_parse_with_tritonclient(datatype: str) -> None:
    data = sample(datatype)
    output = Tensor("y", datatype, data.shape, data)
    body, headers = encode_response(
        model_name="iris", model_version=None, request_id=None, outputs=[output], binary=False
    )
    assert headers == {"Content-Type": "application/json"}
    assert "model_version" not in json.loads(body) and "id" not in json.loads(body)
    result = client_parse(body, headers)
    np.testing.assert_array_equal(result.as_numpy("y"), data)
    assert result.as_numpy("y").dtype == data.dtype


def test_json_bytes_output_reaches_tritonclient_as_text() -> None:
    data = np.array([[b"cat", "né".encode()]], dtype=object)
    body, headers = encode_response(
        model_name="m",
        model_version=None,
        request_id=None,
        outputs=[Tensor("label", "BYTES", (1, 2), data)],
        binary=frozenset(),
    )
    # tritonclient keeps JSON strings as str; binary BYTES come back as bytes.
    assert client_parse(body, headers).as_numpy("label").tolist() == [["cat", "né"]]


def test_mixed_response_and_special_floats() -> None:
    probabilities = np.array([[0.25, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    label = np.array(["setosa", "virginica"])  # a numpy str array, as scikit-learn returns
    empty = np.zeros((0, 3), dtype=np.int64)
    outputs = [
        Tensor("probabilities", "FP32", (2, 2), probabilities),
        Tensor("label", datatype_of(label), (2,), label),
        Tensor("empty", "INT64", (0, 3), empty),
        Tensor("flags", "BOOL", (2,), np.array([True, False])),
    ]
    body, headers = encode_response(
        model_name="m",
        model_version="1",
        request_id=None,
        outputs=outputs,
        binary=frozenset({"label", "empty"}),
    )
    assert int(headers[HEADER_LENGTH]) < len(body)
    result = client_parse(body, headers)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probabilities)
    assert result.as_numpy("label").tolist() == [b"setosa", b"virginica"]
    assert result.as_numpy("empty").shape == (0, 3)
    assert result.as_numpy("flags").tolist() == [True, False]


def test_binary_set_naming_no_output_gives_plain_json() -> None:
    output = Tensor("y", "INT8", (1,), np.array([3], dtype=np.int8))
    _, headers = encode_response(
        model_name="m",
        model_version=None,
        request_id=None,
        outputs=[output],
        binary=frozenset({"other"}),
    )
    assert headers == {"Content-Type": "application/json"}


def test_decoded_request_encodes_back_to_what_the_client_sent() -> None:
    arrays = {name: (sample(name), True) for name in sorted(DATATYPES)}
    request = decode_request(*client_request(arrays))
    body, headers = encode_response(
        model_name="echo",
        model_version=None,
        request_id=request.id,
        outputs=request.inputs,
        binary=request.binary_outputs,
    )
    result = client_parse(body, headers)
    for name, (array, _) in arrays.items():
        np.testing.assert_array_equal(result.as_numpy(name), array)


def test_non_utf8_bytes_cannot_be_sent_as_json() -> None:
    output = Tensor("blob", "BYTES", (1,), np.array([b"\xff\xfe"], dtype=object))
    with pytest.raises(V2Error, match=r"output 'blob'.*not UTF-8.*binary_data"):
        encode_response(
            model_name="m", model_version=None, request_id=None, outputs=[output], binary=False
        )


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (Tensor("y", "FP32", (2,), np.zeros(3, dtype=np.float32)), "shape"),
        (Tensor("y", "FP32", (2,), np.zeros(2, dtype=np.float64)), "float64 \\(FP64\\)"),
        (Tensor("y", "FLOAT", (2,), np.zeros(2, dtype=np.float32)), "unknown datatype"),
        (Tensor("y", "BYTES", (1,), np.array([3], dtype=object)), "not bytes or str"),
    ],
    ids=["shape", "dtype", "datatype", "bytes-element"],
)
def test_inconsistent_output_tensor_is_a_server_bug(tensor: Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        encode_response(
            model_name="m", model_version=None, request_id=None, outputs=[tensor], binary=True
        )
    assert not isinstance(caught.value, V2Error)


@pytest.mark.parametrize(
    ("array", "datatype"),
    [
        (np.zeros(1, dtype=np.float32), "FP32"),
        (np.zeros(1, dtype=">f8"), "FP64"),
        (np.zeros(1, dtype=np.float16), "FP16"),
        (np.zeros(1, dtype=np.uint64), "UINT64"),
        (np.zeros(1, dtype=np.int8), "INT8"),
        (np.zeros(1, dtype=bool), "BOOL"),
        (np.array(["a"]), "BYTES"),
        (np.array([b"a"]), "BYTES"),
        (np.array([b"a"], dtype=object), "BYTES"),
    ],
)
def test_datatype_of(array: np.ndarray[Any, Any], datatype: str) -> None:
    assert datatype_of(array) == datatype


@pytest.mark.parametrize("dtype", [np.complex64, "datetime64[s]", "V4"])
def test_datatype_of_rejects_types_v2_cannot_carry(dtype: Any) -> None:
    with pytest.raises(ValueError, match="has no V2 datatype"):
        datatype_of(np.zeros(1, dtype=dtype))


def test_big_endian_output_is_sent_little_endian() -> None:
    data = np.array([1.5, -2.0], dtype=">f4")
    body, headers = encode_response(
        model_name="m",
        model_version=None,
        request_id=None,
        outputs=[Tensor("y", "FP32", (2,), data)],
        binary=True,
    )
    assert body[int(headers[HEADER_LENGTH]) :] == np.array([1.5, -2.0], dtype="<f4").tobytes()


# --- malformed requests ---------------------------------------------------------------------


def doc(*inputs: Any, **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def tensor(name: Any = "x", datatype: Any = "FP32", shape: Any = (2,), **fields: Any) -> Any:
    return {"name": name, "datatype": datatype, "shape": list(shape), **fields}


def with_binary(payload: bytes, *inputs: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    head = doc(*inputs)
    return head + payload, {HEADER_LENGTH: str(len(head))}


def binary_tensor(size: Any, name: str = "x", datatype: str = "FP32", shape: Any = (2,)) -> Any:
    return tensor(name, datatype, shape, parameters={"binary_data_size": size})


def strings(*values: bytes) -> bytes:
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


FP32_PAIR = np.array([1, 2], dtype="<f4").tobytes()
MALFORMED: list[tuple[str, bytes, dict[str, str], str]] = [
    ("empty body", b"", {}, "not valid JSON"),
    ("invalid JSON", b"{not json", {}, "not valid JSON: Expecting property name"),
    ("not an object", b"[1, 2]", {}, "the request must be a JSON object, got a list"),
    ("not UTF-8", b'{"inputs": [], "id": "\xff"}', {}, "not UTF-8"),
    ("nested too deeply", b"[" * 100_000, {}, "nested too deeply"),
    ("huge integer literal", b'{"id": ' + b"9" * 5000 + b"}", {}, "not valid JSON"),
    (
        "binary without header",
        doc(binary_tensor(8)) + FP32_PAIR,
        {},
        f"not UTF-8 .*needs the {HEADER_LENGTH} header",
    ),
    (
        "UTF-8-clean binary without header",
        doc(binary_tensor(2, datatype="INT8")) + b"\x01\x02",
        {},
        f"Extra data .*needs the {HEADER_LENGTH} header",
    ),
    ("no inputs", b"{}", {}, "'inputs' must be a list, got nothing"),
    ("inputs not a list", b'{"inputs": {}}', {}, "'inputs' must be a list, got an object"),
    ("input not an object", doc(3), {}, r"inputs\[0\] must be a JSON object, got the integer 3"),
    ("id not a string", doc(id=5), {}, "'id' must be a string, got the integer 5"),
    ("parameters not an object", doc(parameters=[]), {}, "'parameters' must be a JSON object"),
    (
        "binary_data_output not a bool",
        doc(parameters={"binary_data_output": "yes"}),
        {},
        'binary_data_output must be true or false, got the string "yes"',
    ),
    ("missing name", doc({"datatype": "FP32"}), {}, r"inputs\[0\]: 'name' must be a non-empty"),
    ("name not a string", doc(tensor(name=7)), {}, "'name' must be a non-empty string"),
    ("unknown datatype", doc(tensor(datatype="FLOAT32")), {}, "input 'x': unknown datatype"),
    ("datatype missing", doc({"name": "x", "shape": [1]}), {}, "unknown datatype null"),
    ("datatype a list", doc(tensor(datatype=["FP32"])), {}, "unknown datatype a list"),
    ("BF16", doc(tensor(datatype="BF16", data=[1, 2])), {}, "BF16 is not supported"),
    ("shape missing", doc({"name": "x", "datatype": "FP32"}), {}, "'shape' must be a list"),
    ("shape not a list", doc(tensor(shape=(), data=[1]) | {"shape": 3}), {}, "'shape' must be a"),
    ("negative dimension", doc(tensor(shape=[-1])), {}, "dimension 0 is the integer -1"),
    ("float dimension", doc(tensor(shape=[2, 2.0])), {}, "dimension 1 is the number 2.0"),
    ("bool dimension", doc(tensor(shape=[True])), {}, "dimension 0 is the boolean true"),
    ("too many dimensions", doc(tensor(shape=[1] * 40, data=[1])), {}, "40 dimensions"),
    (
        "shape product mismatch",
        doc(tensor(shape=[2, 2], data=[1, 2, 3])),
        {},
        r"input 'x': 'data' holds 3 elements but shape \[2, 2\] needs 4",
    ),
    (
        "nested data count mismatch",
        doc(tensor(shape=[2, 2], data=[[1, 2], [3]])),
        {},
        "holds 3 elements but shape",
    ),
    ("data not a list", doc(tensor(shape=[], data=5)), {}, "'data' must be a list, got the int"),
    (
        "strings in FP32",
        doc(tensor(data=[1, "2"])),
        {},
        'FP32 data must be numbers; element 1 is the string "2"',
    ),
    (
        "float in INT64",
        doc(tensor(datatype="INT64", data=[1.5, 2])),
        {},
        "INT64 data must be integers; element 0 is the number 1.5",
    ),
    (
        "integral float in INT32",
        doc(tensor(datatype="INT32", data=[1, 2.0])),
        {},
        "element 1 is the number 2.0",
    ),
    (
        "bool in INT32",
        doc(tensor(datatype="INT32", data=[True, 1])),
        {},
        "element 0 is the boolean true",
    ),
    ("null in FP64", doc(tensor(datatype="FP64", data=[None, 1])), {}, "element 0 is null"),
    ("object in FP64", doc(tensor(datatype="FP64", data=[{}, 1])), {}, "element 0 is an object"),
    (
        "INT8 out of range",
        doc(tensor(datatype="INT8", data=[1, 300])),
        {},
        r"element 1, the integer 300, is outside the INT8 range \[-128, 127\]",
    ),
    (
        "negative UINT64",
        doc(tensor(datatype="UINT64", data=[-1, 0])),
        {},
        "outside the UINT64 range",
    ),
    (
        "UINT64 overflow",
        doc(tensor(datatype="UINT64", data=[2**64, 0])),
        {},
        "outside the UINT64 range",
    ),
    (
        "FP16 overflow",
        doc(tensor(datatype="FP16", data=[1.0, 1e6])),
        {},
        "element 1, the number 1000000.0, is too large for FP16",
    ),
    (
        "FP64 huge integer",
        doc(tensor(datatype="FP64", data=[10**400, 1])),
        {},
        "an integer of about 401 digits, is too large for FP64",
    ),
    (
        "number in BOOL",
        doc(tensor(datatype="BOOL", data=[1, True])),
        {},
        "BOOL data must be true or false; element 0 is the integer 1",
    ),
    (
        "number in BYTES",
        doc(tensor(datatype="BYTES", data=["a", 1])),
        {},
        "BYTES data must be strings; element 1 is the integer 1",
    ),
    (
        "lone surrogate in BYTES",
        b'{"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["\\ud800"]}]}',
        {},
        "lone surrogate",
    ),
    (
        "data and binary",
        with_binary(FP32_PAIR, binary_tensor(8) | {"data": [1, 2]})[0],
        with_binary(FP32_PAIR, binary_tensor(8) | {"data": [1, 2]})[1],
        "has both 'data' and parameters.binary_data_size",
    ),
    (
        "neither data nor binary",
        doc(tensor()),
        {},
        "input 'x' has neither 'data' nor parameters.binary_data_size",
    ),
    (
        "input parameters not an object",
        doc(tensor(data=[1, 2], parameters=5)),
        {},
        "input 'x': 'parameters' must be a JSON object",
    ),
    (
        "shared memory input",
        doc(tensor(parameters={"shared_memory_region": "r"})),
        {},
        "shared memory is not supported",
    ),
    (
        "duplicate inputs",
        doc(tensor(data=[1, 2]), tensor(data=[3, 4])),
        {},
        "input 'x' appears twice",
    ),
    (
        "header not an integer",
        doc(),
        {HEADER_LENGTH: "abc"},
        f"{HEADER_LENGTH} must be a non-negative integer, got 'abc'",
    ),
    ("header negative", doc(), {HEADER_LENGTH: "-5"}, "must be a non-negative integer, got '-5'"),
    ("header fraction", doc(), {HEADER_LENGTH: "1.5"}, "must be a non-negative integer"),
    ("header empty", doc(), {HEADER_LENGTH: ""}, "must be a non-negative integer"),
    (
        "header past the body",
        b'{"inputs": []}',
        {HEADER_LENGTH: "99999"},
        f"{HEADER_LENGTH} says 99999 bytes but the body has 14",
    ),
    (
        "header absurdly large",
        b'{"inputs": []}',
        {HEADER_LENGTH: "9" * 40},
        "bytes but the body has 14",
    ),
    ("header cuts the JSON", b'{"inputs": []}', {HEADER_LENGTH: "5"}, "not valid JSON"),
    (
        "binary_data_size without header",
        doc(binary_tensor(8)),
        {},
        f"input 'x' has binary_data_size but the request has no {HEADER_LENGTH}",
    ),
    (
        "binary_data_size negative",
        *with_binary(b"", binary_tensor(-8)),
        "binary_data_size must be a non-negative integer, got the integer -8",
    ),
    ("binary_data_size a float", *with_binary(FP32_PAIR, binary_tensor(8.0)), "got the number 8.0"),
    (
        "binary_data_size past the end",
        *with_binary(FP32_PAIR, binary_tensor(12)),
        "binary_data_size is 12 but only 8 bytes",
    ),
    (
        "binary bytes unclaimed",
        *with_binary(FP32_PAIR + b"xx", binary_tensor(8)),
        "10 bytes after the .*-byte JSON but the inputs' binary_data_size values add up to 8",
    ),
    (
        "binary not a multiple",
        *with_binary(b"\x00" * 6, binary_tensor(6)),
        "binary_data_size 6 is not a multiple of the 4-byte FP32 element",
    ),
    (
        "binary count mismatch",
        *with_binary(FP32_PAIR, binary_tensor(8, shape=[3])),
        r"the binary data holds 2 elements but shape \[3\] needs 3",
    ),
    (
        "binary BOOL not 0 or 1",
        *with_binary(b"\x01\x02", binary_tensor(2, datatype="BOOL")),
        "BOOL bytes must be 0 or 1; element 1 is 2",
    ),
    (
        "BYTES length truncated",
        *with_binary(strings(b"ab") + b"\x01\x00", binary_tensor(8, datatype="BYTES")),
        "BYTES element 1 is truncated: 2 bytes left where a 4-byte length",
    ),
    (
        "BYTES element truncated",
        *with_binary(strings(b"ab") + b"\x09\x00\x00\x00abc", binary_tensor(13, datatype="BYTES")),
        "BYTES element 1 is truncated: its length says 9 bytes but 3 are left",
    ),
    (
        "BYTES too few",
        *with_binary(strings(b"a"), binary_tensor(5, datatype="BYTES")),
        r"binary data holds 1 elements but shape \[2\] needs 2",
    ),
    (
        "BYTES too many",
        *with_binary(strings(b"a", b"b", b"c"), binary_tensor(15, datatype="BYTES")),
        "more than 2 BYTES elements",
    ),
    ("outputs not a list", doc(outputs={}), {}, "'outputs' must be a list, got an object"),
    (
        "output without name",
        doc(outputs=[{}]),
        {},
        r"outputs\[0\]: 'name' must be a non-empty string, got null",
    ),
    (
        "duplicate outputs",
        doc(outputs=[{"name": "y"}, {"name": "y"}]),
        {},
        "output 'y' appears twice",
    ),
    (
        "binary_data not a bool",
        doc(outputs=[{"name": "y", "parameters": {"binary_data": 1}}]),
        {},
        "output 'y': parameters.binary_data must be true or false, got the integer 1",
    ),
    (
        "classification",
        doc(outputs=[{"name": "y", "parameters": {"classification": 3}}]),
        {},
        "classification extension is not supported",
    ),
    (
        "shared memory output",
        doc(outputs=[{"name": "y", "parameters": {"shared_memory_region": "r"}}]),
        {},
        "output 'y': shared memory is not supported",
    ),
    (
        "too many elements",
        doc(tensor(shape=[5000, 5000])),
        {},
        r"input 'x': shape \[5000, 5000\] holds 25000000 elements.*the limit is 10000000",
    ),
    (
        "too many elements in total",
        doc(tensor("a", shape=[1], data=[1]), tensor("b", shape=[10_000_000])),
        {},
        "input 'b': .*bringing the request to 10000001; the limit is 10000000",
    ),
    (
        "dimension above the limit",
        doc(tensor(shape=[0, 10**30])),
        {},
        "shape dimension 1 is the integer 1000000000000000000000000000000, above the element limit",
    ),
    (
        "unknown encoding",
        doc(),
        {"Content-Encoding": "br"},
        "Content-Encoding 'br' is not supported",
    ),
    (
        "gzip garbage",
        b"not gzip",
        {"Content-Encoding": "gzip"},
        "gzip request body cannot be decompressed",
    ),
    (
        "gzip truncated",
        gzip.compress(doc())[:-12],
        {"Content-Encoding": "gzip"},
        "gzip request body is truncated",
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_request_raises_v2error(
    body: bytes, headers: dict[str, str], message: str
) -> None:
    with pytest.raises(V2Error, match=message):
        decode_request(body, headers)


def test_v2error_belongs_to_the_error_tree() -> None:
    assert issubclass(V2Error, BadInputError)
    assert issubclass(V2Error, ValueError)


def test_max_elements_and_max_body_bytes_are_adjustable() -> None:
    body = doc(tensor(shape=[2, 2], data=[1, 2, 3, 4]))
    assert decode_request(body, {}, max_elements=4).inputs[0].shape == (2, 2)
    with pytest.raises(V2Error, match=r"holds 4 elements, .*the limit is 3"):
        decode_request(body, {}, max_elements=3)
    with pytest.raises(V2Error, match=f"has {len(body)} bytes; the limit is 10"):
        decode_request(body, {}, max_body_bytes=10)
    bomb = gzip.compress(b" " * 1_000_000 + body)
    with pytest.raises(V2Error, match="decompresses to more than 100000 bytes"):
        decode_request(bomb, {"Content-Encoding": "gzip"}, max_body_bytes=100_000)


# --- properties -----------------------------------------------------------------------------


def decodes_or_v2error(body: bytes, headers: dict[str, str]) -> InferRequest | None:
    """Decode, allowing only ``V2Error``; a decoded request must be self-consistent."""
    try:
        request = decode_request(body, headers)
    except V2Error as exc:
        assert str(exc)
        return None
    for t in request.inputs:
        assert t.data.shape == t.shape
        assert t.datatype in DATATYPES
    return request


@FUZZ
@given(
    body=st.binary(max_size=300),
    header=st.none() | st.text(max_size=6) | st.integers(-5, 400).map(str),
)
def test_random_bytes_raise_nothing_but_v2error(body: bytes, header: str | None) -> None:
    decodes_or_v2error(body, {} if header is None else {HEADER_LENGTH: header})


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=4)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)
ELEMENTS = {
    "BOOL": st.booleans(),
    "BYTES": st.text(max_size=4),
    **{name: st.integers(-(2**65), 2**65) for name in NUMERIC if "INT" in name},
    **{name: st.floats() | st.integers(-(2**1030), 2**1030) for name in ("FP16", "FP32", "FP64")},
}


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> Any:
    """``valid`` seven times in eight, so that the fuzzing gets past the first checks."""
    return st.sampled_from(range(8)).flatmap(lambda k: invalid if k == 7 else valid)


@st.composite
def random_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A request that is well-formed at most levels and wrong, if at all, at a random one."""
    inputs: list[Any] = []
    tail = b""
    for index in range(draw(st.integers(0, 3))):
        datatype = draw(mostly(st.sampled_from(sorted(DATATYPES)), JSON_SCALARS))
        shape = draw(mostly(st.lists(st.integers(0, 3), max_size=3), JSON_VALUES))
        proper = isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
        count = int(np.prod(shape)) if proper else -1
        if not 0 <= count <= 24:  # elements are drawn one by one: mismatch big shapes
            count = draw(st.integers(0, 4))
        spec = {
            "name": draw(mostly(st.just(f"in{index}"), JSON_SCALARS | st.just("in0"))),
            "shape": shape,
        }
        spec["datatype"] = datatype
        if draw(st.booleans()):
            if datatype == "BYTES":
                raw = strings(*draw(st.lists(st.binary(max_size=5), min_size=count)))
            else:
                size = count * np.dtype(NUMERIC.get(datatype, np.int8)).itemsize
                raw = draw(st.binary(min_size=size, max_size=size))
            raw = draw(mostly(st.just(raw), st.binary(max_size=20)))
            spec["parameters"] = {"binary_data_size": draw(mostly(st.just(len(raw)), JSON_SCALARS))}
            tail += raw
        else:
            element = ELEMENTS.get(datatype, JSON_SCALARS)
            values = st.lists(mostly(element, JSON_SCALARS), min_size=count, max_size=count)
            spec["data"] = draw(mostly(values, JSON_VALUES))
        inputs.append(draw(mostly(st.just(spec), JSON_VALUES)))
    request: dict[str, Any] = {"inputs": draw(mostly(st.just(inputs), JSON_VALUES))}
    if draw(st.booleans()):
        request["id"] = draw(mostly(st.text(max_size=4), JSON_SCALARS))
    if draw(st.booleans()):
        flag = draw(mostly(st.booleans(), JSON_SCALARS))
        request["parameters"] = draw(mostly(st.just({"binary_data_output": flag}), JSON_VALUES))
    if draw(st.booleans()):
        output = st.fixed_dictionaries(
            {"name": mostly(st.sampled_from("yz"), JSON_SCALARS)},
            optional={"parameters": st.fixed_dictionaries({"binary_data": JSON_SCALARS})},
        )
        request["outputs"] = draw(mostly(st.lists(output, max_size=3), JSON_VALUES))
    head = json.dumps(request).encode()
    tail += draw(mostly(st.just(b""), st.binary(max_size=8)))
    if draw(mostly(st.just(True), st.just(False))):
        return head + tail, {HEADER_LENGTH: str(len(head))}
    return head, {}


@FUZZ
@given(request=random_requests())
def test_random_requests_raise_nothing_but_v2error(request: tuple[bytes, dict[str, str]]) -> None:
    decodes_or_v2error(*request)


NUMERIC_ARRAYS = st.sampled_from(sorted(NUMERIC)).flatmap(
    lambda datatype: hnp.arrays(
        NUMERIC[datatype], hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    )
)


@FUZZ
@given(array=NUMERIC_ARRAYS, binary=st.booleans())
def test_any_numeric_array_survives_client_to_codec_to_client(
    array: np.ndarray[Any, Any], binary: bool
) -> None:
    request = decode_request(*client_request({"x": (array, binary)}))
    (tensor,) = request.inputs
    np.testing.assert_array_equal(tensor.data, array)
    assert tensor.data.dtype == array.dtype and tensor.shape == array.shape
    body, headers = encode_response(
        model_name="m", model_version=None, request_id=None, outputs=[tensor], binary=binary
    )
    back = client_parse(body, headers).as_numpy("x")
    np.testing.assert_array_equal(back, array)
    assert back.dtype == array.dtype and back.shape == array.shape
