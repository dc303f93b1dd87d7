"""Run a student's answer cells and answer the grader's calls into them.

This file is run on its own, inside the sandbox, by
:mod:`course_tools.outofkernel`; it imports nothing from the course
tooling, which the sandbox does not show. It is a fresh interpreter that
never saw the notebook's kernel.

Protocol: the grader writes requests to file descriptor ``IN`` and reads
replies from ``OUT`` (both given on the command line); each message is an
8-byte big-endian length followed by that many bytes of JSON. Only plain
data crosses: numbers, strings, lists, dicts, numpy arrays of numbers
(their raw bytes in base64) and random generator states. Anything else
stays here and is referred to by a handle number.

1. The grader sends ``{"cells": [source, ...], "names": [name, ...]}``.
   Each cell is run in one shared namespace, like a notebook; before each
   the runner reports ``{"event": "cell", "index": i}`` so that the grader
   knows which cell hung if one never ends. A cell that raises is
   recorded and the next one runs. At the end the runner replies
   ``{"event": "ready", ...}`` with the values of the names asked for
   (the ones the exercise's answers define) that the cells defined.
2. Then it serves requests until its input closes: ``get`` (a name),
   ``call`` (a handle with arguments), ``getattr`` (a handle and an
   attribute name). The reply holds ``value`` or ``error``, the warnings
   raised, and the arguments as they are after the call (so that the
   grader sees an argument modified in place).
"""

import base64
import builtins
import io
import json
import os
import struct
import sys
import types
import warnings

import numpy as np

MAX_MESSAGE = 256 * 1024 * 1024
#: Values larger than this stay here as handles instead of being sent.
MAX_VALUE_BYTES = 16 * 1024 * 1024
NUMERIC_KINDS = "biufc"


class Channel:
    def __init__(self, fd_in, fd_out):
        self.fin = os.fdopen(fd_in, "rb", buffering=0)
        self.fout = os.fdopen(fd_out, "wb", buffering=0)

    def _read(self, n):
        chunks, left = [], n
        while left:
            chunk = self.fin.read(left)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def recv(self):
        (size,) = struct.unpack(">Q", self._read(8))
        if size > MAX_MESSAGE:
            raise EOFError
        return json.loads(self._read(size))

    def send(self, message):
        data = json.dumps(message, allow_nan=True).encode()
        self.fout.write(struct.pack(">Q", len(data)) + data)


class Handles:
    def __init__(self):
        self.objects = {}

    def add(self, obj):
        key = len(self.objects) + 1
        self.objects[key] = obj
        return key


def encode(value, handles, depth=0):
    """Plain data for ``value``, or a handle to it."""
    if depth > 20:
        return {"__handle__": handles.add(value), **_kind(value)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int:
        return value if abs(value) < 2**63 else {"__int__": str(value)}
    if type(value) is float:
        return {"__float__": repr(value)}
    if type(value) is complex:
        return {"__complex__": [repr(value.real), repr(value.imag)]}
    if isinstance(value, np.generic) and value.dtype.kind in NUMERIC_KINDS:
        arr = np.asarray(value)
        return {"__scalar__": array_spec(arr)}
    if type(value) is np.ndarray and value.dtype.kind in NUMERIC_KINDS:
        if value.nbytes <= MAX_VALUE_BYTES:
            return {"__ndarray__": array_spec(value)}
    if type(value) is np.random.Generator:
        return {"__rng__": value.bit_generator.state}
    if isinstance(value, (list, tuple)) and len(value) < 100_000:
        # A named tuple arrives as a plain tuple: unpacking still works.
        items = [encode(v, handles, depth + 1) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if type(value) is dict and all(type(k) is str for k in value):
        return {
            "__dict__": {
                k: encode(v, handles, depth + 1) for k, v in value.items()
            }
        }
    return {"__handle__": handles.add(value), **_kind(value)}


def _kind(value):
    return {
        "type": type(value).__name__,
        "name": getattr(value, "__qualname__", None)
        if isinstance(value, (type, types.FunctionType))
        else None,
        "callable": callable(value),
    }


def array_spec(arr):
    """An array's dtype, shape and raw bytes (base64), as plain data."""
    arr = np.array(arr, order="C", copy=None)
    return {
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
        "data": base64.b64encode(arr.tobytes()).decode(),
    }


def decode(data, handles):
    if isinstance(data, list):
        return [decode(v, handles) for v in data]
    if not isinstance(data, dict):
        return data
    if "__float__" in data:
        return float(data["__float__"])
    if "__int__" in data:
        return int(data["__int__"])
    if "__complex__" in data:
        re, im = data["__complex__"]
        return complex(float(re), float(im))
    if "__ndarray__" in data:
        return _fromarray_spec(data["__ndarray__"])
    if "__scalar__" in data:
        return _fromarray_spec(data["__scalar__"])[()]
    if "__rng__" in data:
        state = data["__rng__"]
        bit_generator = getattr(np.random, state["bit_generator"])()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if "__tuple__" in data:
        return tuple(decode(v, handles) for v in data["__tuple__"])
    if "__dict__" in data:
        return {k: decode(v, handles) for k, v in data["__dict__"].items()}
    if "__handle__" in data:
        return handles.objects[data["__handle__"]]
    raise ValueError(f"cannot decode {sorted(data)}")


def _fromarray_spec(spec):
    raw = base64.b64decode(spec["data"])
    arr = np.frombuffer(raw, dtype=np.dtype(spec["dtype"]))
    return arr.reshape(spec["shape"]).copy()


class _Shell:
    """Stands in for IPython: magics and shell commands do nothing."""

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, *args, **kwargs):
        return None

    def system(self, *args, **kwargs):
        return None

    getoutput = system


def compile_cell(source, index):
    name = f"<answer cell {index}>"
    try:
        return compile(source, name, "exec")
    except SyntaxError:
        # IPython syntax (magics, !commands): translate, as the kernel did.
        from IPython.core.inputtransformer2 import TransformerManager

        return compile(
            TransformerManager().transform_cell(source), name, "exec"
        )


def _error(err):
    return {
        "type": type(err).__name__,
        "builtin": type(err).__module__ == "builtins",
        "message": str(err)[:2000],
    }


def run_cells(channel, cells, namespace):
    errors = {}
    for index, source in enumerate(cells):
        channel.send({"event": "cell", "index": index})
        try:
            exec(compile_cell(source, index), namespace)
        except BaseException as err:  # noqa: BLE001 - SystemExit too
            errors[index] = _error(err)
        finally:
            sys.stdout.flush()
    return errors


def describe(namespace, handles, wanted):
    names = {}
    for name in wanted:
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, types.ModuleType):
            continue
        try:
            names[name] = encode(value, handles)
        except Exception:  # noqa: BLE001 - a value that fails to encode
            names[name] = {"__handle__": handles.add(value), **_kind(value)}
    return names


def after(args, handles):
    """The arrays and generators among ``args``, as they are now."""
    if isinstance(args, (list, tuple)):
        return [after(a, handles) for a in args]
    if isinstance(args, dict):
        return {k: after(v, handles) for k, v in args.items()}
    if type(args) is np.ndarray or type(args) is np.random.Generator:
        return encode(args, handles)
    return None


def serve(channel, handles, namespace):
    while True:
        try:
            request = channel.recv()
        except EOFError:
            return
        reply = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                op = request["op"]
                if op == "get":
                    value = namespace[request["name"]]
                elif op == "getattr":
                    target = handles.objects[request["handle"]]
                    value = getattr(target, request["name"])
                elif op == "call":
                    target = handles.objects[request["handle"]]
                    args = decode(request.get("args", []), handles)
                    kwargs = decode(request.get("kwargs", {}), handles)
                    try:
                        value = target(*args, **kwargs)
                    finally:
                        reply["after"] = after([args, kwargs], handles)
                else:
                    raise ValueError(f"unknown request {op!r}")
                reply["value"] = encode(value, handles)
            except BaseException as err:  # noqa: BLE001 - report everything
                reply["error"] = _error(err)
        reply["warnings"] = [
            {
                "category": w.category.__name__,
                "builtin": w.category.__module__ == "builtins",
                "message": str(w.message)[:500],
            }
            for w in caught[:20]
        ]
        sys.stdout.flush()
        channel.send(reply)


def main(argv):
    fd_in, fd_out = int(argv[1]), int(argv[2])
    # Keep the channel out of the student's way: their code gets a fresh
    # stdin that is empty, and prints go to this process's stdout, which
    # the grader discards.
    channel = Channel(os.dup(fd_in), os.dup(fd_out))
    os.close(fd_in)
    os.close(fd_out)
    sys.stdin = io.StringIO("")
    setup = channel.recv()
    handles = Handles()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    namespace["get_ipython"] = lambda: _Shell()
    namespace["display"] = lambda *args, **kwargs: None
    errors = run_cells(channel, setup["cells"], namespace)
    channel.send(
        {
            "event": "ready",
            "errors": {str(k): v for k, v in errors.items()},
            "names": describe(namespace, handles, setup.get("names", [])),
        }
    )
    serve(channel, handles, namespace)


if __name__ == "__main__":
    main(sys.argv)
