"""The one codec for a value that crosses the trust boundary: a student's return value, a probe's
argument, a student's exception; encode and decode side by side, one tagged format, one set of limits.

Imported by the worker (it encodes what the student's code produced and decodes the grader's
arguments) and by the grading process (it encodes arguments and decodes replies). The encoded form
is what `protocol` sends: JSON scalars, lists, objects and numpy arrays (its blobs), never pickles.

The format, one tag per object; nothing else is a JSON object in an encoded value:

- None, bool, int, float, str: themselves; a list: a JSON list of encoded items;
- ``{"__tuple__": [items]}``, ``{"__dict__": [[key, value], ...]}`` (keys encoded like values);
- ``{"__tensor__": array, "dtype": "torch.float32", "requires_grad": false}`` for a torch tensor,
  ``{"__ndarray__": array, "dtype": "float64"}`` for a numpy array: the values whole, in a wire
  dtype (``protocol.DTYPES``; other numeric dtypes as float64), the original dtype named;
- ``{"__scalar__": "int64", "value": 3}``: a numpy scalar, which stays one (a numpy int is not an int);
- ``{"__enum__": "InterpolationMode", "name": "BILINEAR"}``: an enum member, by name;
- ``{"__other__": "module.Type"}``: anything else, or what is over a limit, described in words.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import protocol

MODULE_NAME = "exercise4"
"""The student's module: an error shows the traceback's frames from its file only."""

MAX_DEPTH = 12
"""Nesting of containers in one value. The exercise's values nest 3 deep (HAND_COMPUTED: a dict of
2-D lists); at 3 JSON levels per level (a dict's pairs) a value stays inside the wire's 64 levels
(`protocol.REPLY_BOUNDS`) within any probe's reply."""
MAX_ITEMS = 1_000
"""Items of one list, tuple or dict; a longer one is described, not cut (a cut list would have another length)."""
MAX_VALUES = 10_000
"""Containers, keys and scalars in one value: a value made of many small containers is bounded too."""
MAX_ELEMENTS = 1 << 24
"""Values of one tensor or array, sent whole up to here: the checks compare tensors of the exercise's
sizes (at most about 200,000 values: an activation of ResNet18's maxpool, three saliency maps)."""
MAX_NAME_CHARS = 100
"""A type's or an enum's name."""

_TAGS = ("__tuple__", "__dict__", "__tensor__", "__ndarray__", "__scalar__", "__enum__", "__other__")


class MalformedValue(ValueError):
    """An encoded value that is not of the format: a forged or broken reply (never read on)."""


@dataclass(frozen=True, eq=False)
class Tensor:
    """A tensor or array the student's code produced, as the grading process holds it."""

    array: np.ndarray
    """Its values (read-only), in the wire dtype it travelled in."""
    dtype: str
    """Its own dtype, e.g. "torch.float32" or "int64"."""
    requires_grad: bool = False
    """Whether it was attached to an autograd graph (always False for an array)."""
    is_tensor: bool = True
    """A torch tensor (True) or a numpy array (False)."""

    def __repr__(self) -> str:
        return f"<{'tensor' if self.is_tensor else 'array'} of shape {list(self.array.shape)}, {self.dtype}>"


@dataclass(frozen=True)
class EnumMember:
    """An enum member the student's code used (a transform's interpolation mode), by its class and name."""

    type: str
    name: str


@dataclass(frozen=True)
class Other:
    """A value that does not cross the boundary as itself: its type's name, or why it was left out."""

    description: str

    def __repr__(self) -> str:
        return f"<{self.description}>"


def type_name(value: Any) -> str:
    """A value's type as `module.Qualname` (at most MAX_NAME_CHARS characters)."""
    return f"{type(value).__module__}.{type(value).__qualname__}"[:MAX_NAME_CHARS]


# ---------------------------------------------------------------- encoding


def encode(value: Any, *, arguments: bool = False) -> Any:
    """A value as the tagged format, within the limits; what is over them is described in words.

    `arguments`: the grader's arguments for the student's code, sent as before the codec: numpy
    arrays as torch tensors and tuples as lists (the student's functions get torch tensors and lists).
    """
    try:
        return _Encoder(arguments).encode(value, 0)
    except _OverBudget:
        # Described whole rather than cut somewhere inside: a part of a value would read as another value.
        return _Encoder(arguments).over(f"a value of more than {MAX_VALUES} parts")


class _OverBudget(Exception):
    pass


class _Encoder:
    def __init__(self, arguments: bool) -> None:
        self.arguments = arguments
        self.budget = MAX_VALUES

    def encode(self, value: Any, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _OverBudget
        if value is None or type(value) in (bool, int, float, str):
            return value
        if self.arguments and isinstance(value, str):
            return str.__str__(value)  # the grader's named words (a StrEnum such as Device.CUDA) go as their text
        if depth >= MAX_DEPTH:
            return self.over("nested too deeply")
        torch = _torch()
        if torch is not None and isinstance(value, torch.Tensor):
            return _tensor(torch, value)
        if isinstance(value, np.ndarray):
            return _array(torch, value, self.arguments)
        if isinstance(value, np.generic):
            return _scalar(value)
        if isinstance(value, dict):
            if len(value) > MAX_ITEMS:
                return self.over(f"dict of {len(value)} items (more than {MAX_ITEMS})")
            return {"__dict__": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in list(value.items())]}
        if isinstance(value, (list, tuple)):
            if len(value) > MAX_ITEMS:
                return self.over(f"{type(value).__name__[:MAX_NAME_CHARS]} of {len(value)} items (more than {MAX_ITEMS})")
            items = [self.encode(v, depth + 1) for v in list(value)]
            return items if isinstance(value, list) or self.arguments else {"__tuple__": items}
        import enum

        if isinstance(value, enum.Enum):
            return {"__enum__": type(value).__name__[:MAX_NAME_CHARS], "name": str(value.name)[:MAX_NAME_CHARS]}
        return {"__other__": type_name(value)}

    def over(self, description: str) -> dict[str, str]:
        """What is over a limit: described in a student's value; the grader's own arguments must fit."""
        if self.arguments:
            raise ValueError(f"an argument for the student's code is over the codec's limits: {description}")
        return {"__other__": description}


def _torch() -> Any:
    """torch when this process has it loaded (a value can only be a tensor then)."""
    import sys

    return sys.modules.get("torch")


def _tensor(torch: Any, value: Any) -> dict[str, Any]:
    t = value.detach()
    if type(t) is not torch.Tensor:
        t = t.as_subclass(torch.Tensor)
    if t.layout != torch.strided or t.is_complex() or t.is_quantized:
        return {"__other__": f"tensor of dtype {value.dtype} ({str(t.layout).replace('torch.', '')})"[:MAX_NAME_CHARS]}
    if t.numel() > MAX_ELEMENTS:
        return {"__other__": f"tensor of shape {list(t.shape)}: more than {MAX_ELEMENTS} values"[:MAX_NAME_CHARS]}
    t = t.cpu()
    if str(t.dtype).replace("torch.", "") not in protocol.DTYPES:
        t = t.to(torch.float64)  # bfloat16 and the unsigned ints numpy or the wire lack: the values exactly
    return {"__tensor__": t.contiguous().numpy(), "dtype": str(value.dtype), "requires_grad": bool(value.requires_grad)}


def _array(torch: Any, value: np.ndarray, arguments: bool) -> dict[str, Any]:
    if value.dtype.kind not in "biuf":
        return {"__other__": f"array of dtype {value.dtype}"[:MAX_NAME_CHARS]}
    if value.size > MAX_ELEMENTS:
        return {"__other__": f"array of shape {list(value.shape)}: more than {MAX_ELEMENTS} values"[:MAX_NAME_CHARS]}
    array = value if value.dtype.name in protocol.DTYPES else value.astype(np.float64)
    if arguments:
        return {"__tensor__": np.ascontiguousarray(array), "dtype": f"torch.{array.dtype.name}", "requires_grad": False}
    return {"__ndarray__": array, "dtype": value.dtype.name}


def _scalar(value: np.generic) -> dict[str, Any]:
    if isinstance(value, np.bool_):
        return {"__scalar__": "bool", "value": bool(value)}
    if isinstance(value, np.integer) and value.dtype.name in protocol.DTYPES:
        return {"__scalar__": value.dtype.name, "value": int(value)}
    if isinstance(value, (np.integer, np.floating)):
        name = value.dtype.name if value.dtype.name in protocol.DTYPES else "float64"
        return {"__scalar__": name, "value": float(value)}
    return {"__other__": type_name(value)}


# ---------------------------------------------------------------- decoding


def decode(tree: Any, *, torch_tensors: bool = False) -> Any:
    """An encoded value as Python data: `Tensor`, `EnumMember` and `Other` for what has no plain form.

    Strict: anything not of the format raises MalformedValue, so a forged reply fails the check that
    reads it, and only plain numeric data is ever built (no object is made from a name in it).
    `torch_tensors`: tensors and arrays as torch tensors (the worker, reading the grader's arguments).
    """
    return _decode(tree, 0, torch_tensors, [MAX_VALUES + 1])


def _decode(tree: Any, depth: int, torch_tensors: bool, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise MalformedValue(f"a value of more than {MAX_VALUES} parts")
    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if depth > MAX_DEPTH:
        raise MalformedValue(f"a value nested deeper than {MAX_DEPTH}")
    if type(tree) is list:
        if len(tree) > MAX_ITEMS:
            raise MalformedValue(f"a list of more than {MAX_ITEMS} items")
        return [_decode(v, depth + 1, torch_tensors, budget) for v in tree]
    if type(tree) is not dict:
        raise MalformedValue(f"a value of type {type(tree).__name__}")
    tags = [t for t in _TAGS if t in tree]
    if len(tags) != 1:
        raise MalformedValue(f"an object with the keys {sorted(map(str, tree))[:5]}, not a value of the format")
    tag = tags[0]
    body = tree[tag]
    if tag == "__tuple__":
        return tuple(_items(body, tag, depth, torch_tensors, budget))
    if tag == "__dict__":
        out: dict[Any, Any] = {}
        for pair in _items(body, tag, depth, torch_tensors, budget, decoded=False):
            if type(pair) is not list or len(pair) != 2:
                raise MalformedValue("a dict's item that is not a [key, value] pair")
            key = _decode(pair[0], depth + 1, torch_tensors, budget)
            out[key if _hashable(key) else repr(key)] = _decode(pair[1], depth + 1, torch_tensors, budget)
        return out
    if tag in ("__tensor__", "__ndarray__"):
        if not isinstance(body, np.ndarray) or body.dtype.name not in protocol.DTYPES:
            raise MalformedValue(f"a {tag.strip('_')} that holds no array of numbers")
        dtype, grad = tree.get("dtype"), tree.get("requires_grad", False)
        if type(dtype) is not str or type(grad) is not bool:
            raise MalformedValue(f"a {tag.strip('_')} without its dtype")
        if torch_tensors:
            import torch

            return torch.from_numpy(np.array(body))
        return Tensor(body, dtype[:MAX_NAME_CHARS], grad, tag == "__tensor__")
    if tag == "__scalar__":
        number = tree.get("value")
        if body not in protocol.DTYPES or type(number) not in (bool, int, float):
            raise MalformedValue("a numpy scalar of no numeric dtype")
        try:
            return np.dtype(body).type(number)
        except (OverflowError, ValueError, TypeError):
            raise MalformedValue(f"a numpy {body} that cannot hold {str(number)[:40]}") from None
    if tag == "__enum__":
        name = tree.get("name")
        if type(body) is not str or type(name) is not str:
            raise MalformedValue("an enum member without its names")
        return EnumMember(body[:MAX_NAME_CHARS], name[:MAX_NAME_CHARS])
    if type(body) is not str:
        raise MalformedValue("a description that is not text")
    return Other(body[:MAX_NAME_CHARS * 2])


def _items(body: Any, tag: str, depth: int, torch_tensors: bool, budget: list[int], decoded: bool = True) -> list[Any]:
    if type(body) is not list or len(body) > MAX_ITEMS:
        raise MalformedValue(f"a {tag.strip('_')} whose items are not a list of at most {MAX_ITEMS}")
    return [_decode(v, depth + 1, torch_tensors, budget) for v in body] if decoded else body


def _hashable(key: Any) -> bool:
    if key is None or type(key) in (bool, int, float, str):
        return True
    return type(key) is tuple and all(_hashable(k) for k in key)


# ---------------------------------------------------------------- the student's exceptions


def describe_error(exc: BaseException) -> dict[str, str]:
    """The student's exception as data, with the traceback's frames from their own file only."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.basename(f.filename) == MODULE_NAME + ".py"]
    tb = "".join(traceback.format_list(frames[-8:]))
    message = str(exc)
    if len(message) > 2000:
        message = message[:2000] + " … (cut here: the whole message is longer)"
    return {"type": type(exc).__name__, "message": message, "traceback": tb[-4000:]}


def describe_failure(exc: BaseException) -> dict[str, str]:
    """What ended a piece of the student's code: an exit() in words, any other exception as `describe_error`."""
    if isinstance(exc, SystemExit):
        return {"type": "SystemExit", "message": f"your code called exit({exc.code})", "traceback": ""}
    return describe_error(exc)


def error_text(error: Any) -> str:
    """A described exception as one readable line plus the student's own frames."""
    if not isinstance(error, dict):  # a forged reply's "error" may be anything
        error = {"type": "Error", "message": str(error)[:2000]}
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()
    tb = error.get("traceback") or ""
    return text + (f"\n{tb.rstrip()}" if tb else "")
