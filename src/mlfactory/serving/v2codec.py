"""Codec for the Open Inference Protocol V2 (KServe / Triton REST) infer request and response.

Pure functions over bytes and headers: no web framework, no I/O. The server reads the raw
body (tritonclient sends no ``Content-Type``, so it must not insist on JSON), calls
``decode_request``, runs the model, and sends what ``encode_response`` returns.

Triton's binary tensor data extension is supported both ways. With the header
``Inference-Header-Content-Length: N`` the first N bytes of the body are the JSON and the rest
is the concatenation, in input order, of the raw data of every input whose parameters carry
``binary_data_size``: numbers little-endian, ``BOOL`` one byte (0 or 1) per element, ``BYTES``
a 4-byte little-endian length before each element. A request body compressed by the client
(``Content-Encoding: gzip`` or ``deflate``, as tritonclient's ``request_compression_algorithm``
sends it) is decompressed first; the header length counts the decompressed JSON.

Every malformed request raises ``V2Error`` (the server answers 400), whose message names the
tensor, the value received and what was expected. ``encode_response`` raises ``V2Error`` only
when the client asked for JSON that cannot carry the output (bytes that are not UTF-8), and
``ValueError`` when a ``Tensor`` contradicts itself (a bug in the server, answered 500).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlfactory.errors import BadInputError

__all__ = [
    "DATATYPES",
    "HEADER_LENGTH",
    "InferRequest",
    "Tensor",
    "V2Error",
    "datatype_of",
    "decode_request",
    "encode_response",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
"""The header giving the byte length of the JSON part of a body that carries binary tensors."""

_NUMERIC: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
DATATYPES = frozenset([*_NUMERIC, "BYTES"])
"""The V2 datatypes this codec reads and writes (``BF16`` is not among them)."""

_BY_KIND_SIZE = {(dt.kind, dt.itemsize): name for name, dt in _NUMERIC.items()}
_MAX_DIMS = 32
_LENGTH = struct.Struct("<I")


class V2Error(BadInputError, ValueError):
    """A malformed V2 request; the message names the tensor and the problem.

    The server answers 400. It is a ``BadInputError`` of mlfactory's tree and a ``ValueError``.
    """


@dataclass(frozen=True, eq=False)
class Tensor:
    """One named tensor: a request input or a response output.

    ``data`` is already shaped to ``shape``; its dtype is the numpy one of ``datatype``, or an
    object array of ``bytes`` for ``BYTES`` (``encode_response`` also takes ``str`` elements).
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: npt.NDArray[Any]


@dataclass(frozen=True, eq=False)
class InferRequest:
    """A decoded infer request.

    ``outputs`` lists the names asked for, ``None`` meaning all of them (no or an empty
    ``outputs`` list). ``binary_outputs`` says which to send as binary data, ready for
    ``encode_response``: with ``outputs`` None it is a bool (``binary_data_output``), else the
    set of listed names whose ``binary_data`` is true, or unset while ``binary_data_output`` is.
    ``parameters`` is the request-level ``parameters`` object as sent.
    """

    id: str | None
    inputs: list[Tensor]
    binary_outputs: frozenset[str] | bool
    outputs: list[str] | None
    parameters: dict[str, Any]


# the V2 "classification" output parameter (Triton's top-k classes extension), not a task
CLASSIFICATION_EXTENSION = "classification"


def datatype_of(array: npt.NDArray[Any]) -> str:
    """The V2 datatype of a numpy array: ``BYTES`` for object, ``str`` and ``bytes`` arrays."""
    dtype = array.dtype
    if dtype.kind in "OUS":
        return "BYTES"
    name = _BY_KIND_SIZE.get((dtype.kind, dtype.itemsize))
    if name is None:
        raise ValueError(
            f"numpy dtype {dtype} has no V2 datatype; use bool, (u)int8-64, float16/32/64, "
            "or an object/str/bytes array for BYTES"
        )
    return name


# --- decoding -------------------------------------------------------------------------------


def decode_request(
    body: bytes,
    headers: Mapping[str, str],
    *,
    max_elements: int = 10_000_000,
    max_body_bytes: int = 1 << 28,
) -> InferRequest:
    """Decode a V2 infer request body (JSON, optionally followed by binary tensor data).

    ``headers`` is looked up case-insensitively; only ``Inference-Header-Content-Length`` and
    ``Content-Encoding`` are read. ``max_elements`` bounds the total number of elements over all
    inputs and ``max_body_bytes`` the size of the body after decompression.
    """
    body = _decompress(body, _header(headers, "Content-Encoding"), max_body_bytes)
    if len(body) > max_body_bytes:
        raise V2Error(f"the request body has {len(body)} bytes; the limit is {max_body_bytes}")
    declared = _header(headers, HEADER_LENGTH)
    if declared is None:
        json_part, binary = body, memoryview(b"")
    else:
        json_size = _header_length(declared, len(body))
        json_part, binary = body[:json_size], memoryview(body)[json_size:]
    doc = _parse_json(json_part, has_header=declared is not None)

    request_id = doc.get("id")
    if "id" in doc and not isinstance(request_id, str):
        raise V2Error(f"the request 'id' must be a string, got {_describe(request_id)}")
    parameters = _object(doc.get("parameters", {}), "the request 'parameters'")
    binary_all = parameters.get("binary_data_output", False)
    if not isinstance(binary_all, bool):
        raise V2Error(
            f"parameters.binary_data_output must be true or false, got {_describe(binary_all)}"
        )
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list):
        got = _describe(raw_inputs) if "inputs" in doc else "nothing"
        raise V2Error(f"the request 'inputs' must be a list, got {got}")

    inputs: list[Tensor] = []
    names: set[str] = set()
    offset = 0
    total = 0
    for index, raw in enumerate(raw_inputs):
        where = f"inputs[{index}]"
        spec = _object(raw, where)
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise V2Error(f"{where}: 'name' must be a non-empty string, got {_describe(name)}")
        where = f"input {name!r}"
        if name in names:
            raise V2Error(f"{where} appears twice in 'inputs'; input names must be unique")
        names.add(name)
        datatype = _datatype(spec.get("datatype"), where)
        shape = _shape(spec.get("shape"), where, max_elements)
        count = math.prod(shape)
        total += count
        if total > max_elements:
            raise V2Error(
                f"{where}: shape {list(shape)} holds {count} elements, bringing the request to "
                f"{total}; the limit is {max_elements}"
            )
        params = _object(spec.get("parameters", {}), f"{where}: 'parameters'")
        if "shared_memory_region" in params:
            raise V2Error(f"{where}: shared memory is not supported; send the data in the body")
        size = params.get("binary_data_size")
        if size is not None:
            if "data" in spec:
                raise V2Error(f"{where} has both 'data' and parameters.binary_data_size; send one")
            if type(size) is not int or size < 0:
                raise V2Error(
                    f"{where}: binary_data_size must be a non-negative integer, "
                    f"got {_describe(size)}"
                )
            if declared is None:
                raise V2Error(
                    f"{where} has binary_data_size but the request has no {HEADER_LENGTH} header"
                )
            if size > len(binary) - offset:
                raise V2Error(
                    f"{where}: binary_data_size is {size} but only {len(binary) - offset} bytes "
                    f"of binary data are left after the JSON and the inputs before it"
                )
            flat = _from_binary(binary[offset : offset + size], datatype, shape, where)
            offset += size
        elif "data" in spec:
            flat = _from_json(_flatten(spec["data"], where), datatype, shape, where)
        else:
            raise V2Error(f"{where} has neither 'data' nor parameters.binary_data_size")
        inputs.append(Tensor(name, datatype, shape, flat.reshape(shape)))
    if offset != len(binary):
        raise V2Error(
            f"the body has {len(binary)} bytes after the {len(json_part)}-byte JSON but the "
            f"inputs' binary_data_size values add up to {offset}"
        )

    outputs, binary_outputs = _outputs(doc, binary_all)
    return InferRequest(
        id=request_id,
        inputs=inputs,
        binary_outputs=binary_outputs,
        outputs=outputs,
        parameters=parameters,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _header_length(value: str, body_size: int) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise V2Error(f"{HEADER_LENGTH} must be a non-negative integer, got {value!r}")
    if len(text) > 18 or int(text) > body_size:
        raise V2Error(f"{HEADER_LENGTH} says {text} bytes but the body has {body_size}")
    return int(text)


def _decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return body
    if name not in ("gzip", "deflate"):
        raise V2Error(f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none")
    decoder = zlib.decompressobj(31 if name == "gzip" else 15)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise V2Error(f"the {name} request body cannot be decompressed: {exc}") from None
    if len(out) > limit:
        raise V2Error(f"the {name} request body decompresses to more than {limit} bytes")
    if not decoder.eof:
        raise V2Error(f"the {name} request body is truncated")
    return out


def _parse_json(part: bytes, *, has_header: bool) -> dict[str, Any]:
    hint = "" if has_header else f" (a body with binary tensors needs the {HEADER_LENGTH} header)"
    try:
        text = part.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise V2Error(
            f"the request JSON is not UTF-8 (byte {exc.start}: {exc.reason})" + hint
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            hint = ""
        raise V2Error(
            f"the request is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            + hint
        ) from None
    except RecursionError:
        raise V2Error("the request JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal with more than 4300 digits
        raise V2Error(f"the request is not valid JSON: {exc}") from None
    return _object(doc, "the request")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise V2Error(f"{where} must be a JSON object, got {_describe(value)}")
    return value


def _datatype(value: Any, where: str) -> str:
    if isinstance(value, str) and value in DATATYPES:
        return value
    if value == "BF16":
        raise V2Error(f"{where}: datatype BF16 is not supported; send FP32 or FP16")
    raise V2Error(
        f"{where}: unknown datatype {_describe(value)}; "
        f"expected one of {', '.join(sorted(DATATYPES))}"
    )


def _shape(value: Any, where: str, max_elements: int) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise V2Error(f"{where}: 'shape' must be a list of integers, got {_describe(value)}")
    if len(value) > _MAX_DIMS:
        raise V2Error(
            f"{where}: shape has {len(value)} dimensions; at most {_MAX_DIMS} are allowed"
        )
    for axis, dim in enumerate(value):
        if type(dim) is not int or dim < 0:
            raise V2Error(
                f"{where}: shape dimensions must be non-negative integers; dimension {axis} is "
                f"{_describe(dim)}"
            )
        if dim > max_elements:
            raise V2Error(
                f"{where}: shape dimension {axis} is {_describe(dim)}, above the element limit "
                f"{max_elements}"
            )
    return tuple(value)


def _outputs(
    doc: dict[str, Any], binary_all: bool
) -> tuple[list[str] | None, frozenset[str] | bool]:
    raw = doc.get("outputs", [])
    if not isinstance(raw, list):
        raise V2Error(f"the request 'outputs' must be a list, got {_describe(raw)}")
    if not raw:
        return None, binary_all
    names: list[str] = []
    binary: set[str] = set()
    for index, item in enumerate(raw):
        spec = _object(item, f"outputs[{index}]")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise V2Error(
                f"outputs[{index}]: 'name' must be a non-empty string, got {_describe(name)}"
            )
        where = f"output {name!r}"
        if name in names:
            raise V2Error(f"{where} appears twice in 'outputs'; output names must be unique")
        params = _object(spec.get("parameters", {}), f"{where}: 'parameters'")
        if "shared_memory_region" in params:
            raise V2Error(f"{where}: shared memory is not supported; ask for binary_data instead")
        if CLASSIFICATION_EXTENSION in params:
            raise V2Error(f"{where}: the classification extension is not supported")
        flag = params.get("binary_data", binary_all)
        if not isinstance(flag, bool):
            raise V2Error(
                f"{where}: parameters.binary_data must be true or false, got {_describe(flag)}"
            )
        names.append(name)
        if flag:
            binary.add(name)
    return names, frozenset(binary)


def _flatten(data: Any, where: str) -> list[Any]:
    """Row-major elements of ``data``, a flat or nested list (without recursion)."""
    if not isinstance(data, list):
        raise V2Error(f"{where}: 'data' must be a list, got {_describe(data)}")
    if not any(type(item) is list for item in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _count_matches(found: int, shape: tuple[int, ...], where: str, source: str) -> None:
    expected = math.prod(shape)
    if found != expected:
        raise V2Error(
            f"{where}: {source} holds {found} elements but shape {list(shape)} needs {expected}"
        )


def _from_json(flat: list[Any], datatype: str, shape: tuple[int, ...], where: str) -> Any:
    _count_matches(len(flat), shape, where, "'data'")
    if datatype == "BYTES":
        out = np.empty(len(flat), dtype=object)
        for index, value in enumerate(flat):
            if not isinstance(value, str):
                raise V2Error(
                    f"{where}: BYTES data must be strings; element {index} is {_describe(value)}"
                )
            try:
                out[index] = value.encode("utf-8")
            except UnicodeEncodeError:
                raise V2Error(
                    f"{where}: BYTES element {index} has a lone surrogate and is not UTF-8"
                ) from None
        return out
    dtype = _NUMERIC[datatype]
    if dtype.kind == "b":
        _first_bad(flat, lambda v: type(v) is bool, where, datatype, "true or false")
        return np.array(flat, dtype=dtype)
    if dtype.kind in "iu":
        _first_bad(flat, lambda v: type(v) is int, where, datatype, "integers")
        info = np.iinfo(dtype)
        if flat and (min(flat) < info.min or max(flat) > info.max):
            index = next(i for i, v in enumerate(flat) if not info.min <= v <= info.max)
            raise V2Error(
                f"{where}: element {index}, {_describe(flat[index])}, is outside the {datatype} "
                f"range [{info.min}, {info.max}]"
            )
        return np.array(flat, dtype=dtype)
    _first_bad(flat, lambda v: type(v) in (int, float), where, datatype, "numbers")
    try:
        wide = np.array(flat, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        index = next(i for i, v in enumerate(flat) if not _fits_float(v))
        raise V2Error(
            f"{where}: element {index}, {_describe(flat[index])}, is too large for {datatype}"
        ) from None
    with np.errstate(over="ignore"):
        narrow = wide.astype(dtype)
    overflow = np.isinf(narrow) & np.isfinite(wide)
    if overflow.any():
        index = int(overflow.argmax())
        raise V2Error(
            f"{where}: element {index}, {_describe(flat[index])}, is too large for {datatype} "
            f"(largest finite value {np.finfo(dtype).max})"
        )
    return narrow


def _fits_float(value: float) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _first_bad(
    flat: list[Any], ok: Callable[[Any], bool], where: str, datatype: str, wanted: str
) -> None:
    for index, value in enumerate(flat):
        if not ok(value):
            raise V2Error(
                f"{where}: {datatype} data must be {wanted}; element {index} is {_describe(value)}"
            )


def _from_binary(chunk: memoryview, datatype: str, shape: tuple[int, ...], where: str) -> Any:
    if datatype == "BYTES":
        return _bytes_elements(chunk, shape, where)
    dtype = _NUMERIC[datatype]
    if len(chunk) % dtype.itemsize:
        raise V2Error(
            f"{where}: binary_data_size {len(chunk)} is not a multiple of the "
            f"{dtype.itemsize}-byte {datatype} element"
        )
    _count_matches(len(chunk) // dtype.itemsize, shape, where, "the binary data")
    if dtype.kind == "b":
        raw = np.frombuffer(chunk, dtype=np.uint8)
        if raw.size and raw.max() > 1:
            index = int((raw > 1).argmax())
            raise V2Error(f"{where}: BOOL bytes must be 0 or 1; element {index} is {raw[index]}")
        return raw.astype(np.bool_)
    # astype copies: the tensor is writable, in native byte order, and does not pin the body.
    return np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype)


def _bytes_elements(chunk: memoryview, shape: tuple[int, ...], where: str) -> Any:
    expected = math.prod(shape)
    elements: list[bytes] = []
    offset = 0
    while offset < len(chunk):
        if len(elements) == expected:
            raise V2Error(
                f"{where}: the binary data holds more than {expected} BYTES elements, "
                f"the number shape {list(shape)} needs"
            )
        left = len(chunk) - offset
        if left < _LENGTH.size:
            raise V2Error(
                f"{where}: BYTES element {len(elements)} is truncated: {left} bytes left where "
                "a 4-byte length is needed"
            )
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += _LENGTH.size
        if length > len(chunk) - offset:
            raise V2Error(
                f"{where}: BYTES element {len(elements)} is truncated: its length says {length} "
                f"bytes but {len(chunk) - offset} are left in the tensor's binary data"
            )
        elements.append(bytes(chunk[offset : offset + length]))
        offset += length
    _count_matches(len(elements), shape, where, "the binary data")
    out = np.empty(len(elements), dtype=object)
    out[:] = elements
    return out


def _describe(value: Any) -> str:
    """A JSON value as a message shows it: its kind, and the value itself when it is short."""
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "an object"
    if type(value) is int and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    kind = {bool: "the boolean", int: "the integer", float: "the number", str: "the string"}
    text = json.dumps(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind[type(value)]} {text}" if type(value) in kind else text


# --- encoding -------------------------------------------------------------------------------


def encode_response(
    *,
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: list[Tensor],
    binary: frozenset[str] | bool,
) -> tuple[bytes, dict[str, str]]:
    """Encode a V2 infer response: the body and the headers to send with it.

    Outputs named in ``binary`` (all of them if ``True``) are sent as binary data after the
    JSON, with ``Content-Type: application/octet-stream`` and ``Inference-Header-Content-Length``;
    otherwise the body is plain ``application/json``. NaN and infinities in JSON outputs are
    written as the literals ``NaN`` and ``Infinity``, as Python and tritonclient read them.
    """
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = model_version
    if request_id is not None:
        doc["id"] = request_id
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    any_binary = False
    seen: set[str] = set()
    for tensor in outputs:
        _check_output(tensor, seen)
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": [int(d) for d in tensor.shape],
        }
        if binary is True or (binary is not False and tensor.name in binary):
            raw = _to_binary(tensor)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
            any_binary = True
        else:
            entry["data"] = _to_json(tensor)
        entries.append(entry)
    doc["outputs"] = entries
    header = json.dumps(doc, separators=(",", ":")).encode("ascii")
    if not any_binary:
        return header, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
    return b"".join([header, *chunks]), headers


def _check_output(tensor: Tensor, seen: set[str]) -> None:
    where = f"output {tensor.name!r}"
    if tensor.name in seen:
        raise ValueError(f"{where} appears twice in the response")
    seen.add(tensor.name)
    if tensor.datatype not in DATATYPES:
        raise ValueError(f"{where}: unknown datatype {tensor.datatype!r}")
    if tuple(tensor.data.shape) != tuple(tensor.shape):
        raise ValueError(
            f"{where}: data has shape {tensor.data.shape} but the tensor says {tensor.shape}"
        )
    actual = datatype_of(tensor.data)
    if actual != tensor.datatype:
        raise ValueError(
            f"{where}: data has dtype {tensor.data.dtype} ({actual}) but the tensor says "
            f"{tensor.datatype}; build it with datatype_of(data)"
        )


def _byte_elements(tensor: Tensor) -> list[bytes]:
    out: list[bytes] = []
    for index, value in enumerate(tensor.data.ravel().tolist()):
        if isinstance(value, bytes):
            out.append(value)
        elif isinstance(value, str):
            try:
                out.append(value.encode("utf-8"))
            except UnicodeEncodeError:
                raise ValueError(
                    f"output {tensor.name!r}: BYTES element {index} is a str that is not "
                    "encodable as UTF-8"
                ) from None
        else:
            raise ValueError(
                f"output {tensor.name!r}: BYTES element {index} is {type(value).__name__}, "
                "not bytes or str"
            )
    return out


def _to_binary(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(e)) + e for e in _byte_elements(tensor))
    dtype = _NUMERIC[tensor.datatype]
    return tensor.data.astype(dtype.newbyteorder("<"), copy=False).tobytes()


def _to_json(tensor: Tensor) -> list[Any]:
    if tensor.datatype != "BYTES":
        values: list[Any] = tensor.data.ravel().tolist()
        return values
    out: list[str] = []
    for index, element in enumerate(_byte_elements(tensor)):
        try:
            out.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise V2Error(
                f"output {tensor.name!r}: BYTES element {index} is not UTF-8, so it cannot be "
                'sent as JSON; ask for it as binary (outputs[].parameters: {"binary_data": true})'
            ) from None
    return out
