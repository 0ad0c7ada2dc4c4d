"""Helpers the checks share: comparing values and saying in words what was expected and what came back."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.student import CheckFailed
from grader.worker import values
from grader.worker.values import EnumMember, Other, Tensor


def fmt(value: Any, limit: int = 600) -> str:
    """A value as short readable text: small matrices in full, large ones by shape."""
    if isinstance(value, np.ndarray):
        if value.size <= 64:
            text = np.array2string(np.round(value, 4), separator=", ", suppress_small=True)
        else:
            text = f"array of shape {list(value.shape)}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


def tensor_of(encoded: Any, what: str) -> np.ndarray:
    """The values of a tensor (or array) the student's code returned, or CheckFailed saying what came back instead."""
    value = values.decode(encoded)
    if not isinstance(value, Tensor):
        raise CheckFailed(f"{what} should return a torch.Tensor, but returned {described_type(value)}.")
    return np.asarray(value.array, dtype=np.float64)


def described_type(value: Any) -> str:
    """A decoded value's type in the feedback's words (`module.Type`, or why it did not cross)."""
    if isinstance(value, Other):
        return value.description
    if isinstance(value, Tensor):
        return "torch.Tensor" if value.is_tensor else "numpy.ndarray"
    return values.type_name(value)


def call_kind(value: Any) -> str:
    """A decoded return value's kind in the feedback's words: int, float, bool, numpy-int, numpy-float, tensor, other."""
    if type(value) in (bool, int, float):
        return type(value).__name__
    if isinstance(value, np.integer):
        return "numpy-int"
    if isinstance(value, np.floating):
        return "numpy-float"
    return "tensor" if isinstance(value, Tensor) else "other"


def shown(value: Any) -> str:
    """A decoded return value in the feedback: a number as itself, anything else by its type."""
    return str(value) if call_kind(value) not in ("tensor", "other") else described_type(value)


def nested_kind(value: Any) -> str:
    """A decoded constant's kind in the feedback's words: dict, list, tensor, number, str, none or other."""
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Tensor):
        return "tensor"
    if type(value) in (bool, int, float) or isinstance(value, (np.integer, np.floating)):
        return "number"
    if type(value) is str:
        return "str"
    return "none" if value is None else "other"


def expect_close(got: np.ndarray, expected: np.ndarray, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Shapes equal and values within tolerance, else CheckFailed showing both."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise CheckFailed(f"{what}: expected shape {list(expected.shape)}, got shape {list(got.shape)}.")
    close = np.isclose(got, expected, atol=atol, rtol=rtol, equal_nan=False)
    if not close.all():
        if expected.size <= 64:
            worst = float(np.nanmax(np.abs(got - expected))) if got.size else 0.0
            raise CheckFailed(f"{what}:\n  expected {fmt(expected)}\n  got      {fmt(got)}\n  (largest difference {worst:.3g})")
        # Too large to print: say where and how they differ instead of showing two equal shapes.
        diff = np.where(np.isnan(got), np.inf, np.abs(got - expected))
        at = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise CheckFailed(f"{what}: both have shape {list(expected.shape)}, but {int((~close).sum())} of "
                          f"{expected.size} values differ; the largest difference is at index {list(map(int, at))}: "
                          f"expected {float(expected[at]):.6g}, got {float(got[at]):.6g} "
                          f"(values range over [{float(np.nanmin(expected)):.4g}, {float(np.nanmax(expected)):.4g}]).")


def nested_numbers(value: Any) -> Any:
    """A decoded constant as nested lists of floats (None where it is not numeric)."""
    kind = nested_kind(value)
    if kind == "tensor":
        return np.asarray(value.array, dtype=np.float64).tolist()
    if kind == "number":
        return float(value)
    if kind == "list":
        return [nested_numbers(v) for v in value]
    return None


def nested_dict(encoded: Any, what: str) -> dict[str, Any]:
    """A constant that must be a dict, as {key: decoded value} (keys that are not text as their repr)."""
    value = values.decode(encoded)
    if not isinstance(value, dict):
        raise CheckFailed(f"{what} should be a dict, but is {described_type(value) if nested_kind(value) == 'other' else nested_kind(value)}.")
    return {k if type(k) is str else repr(k): v for k, v in value.items()}


def as_param(value: Any) -> Any:
    """A decoded setting of a transform or layer as the checks and the rebuild compare it.

    Lists and tuples alike as lists, a tensor as its first 100 values, numpy numbers as floats,
    an enum as {"enum", "name"}, text cut to 200 characters, anything else as {"repr": ...}.
    """
    if isinstance(value, Tensor):
        return np.asarray(value.array, dtype=np.float64).ravel()[:100].tolist()
    if isinstance(value, EnumMember):
        return {"enum": value.type, "name": value.name}
    if isinstance(value, (list, tuple)):
        return [as_param(v) for v in value[:100]]
    if value is None or type(value) in (bool, int, float):
        return value
    if type(value) is str:
        return value[:200]
    if isinstance(value, (np.integer, np.floating)):
        return float(value)
    return {"repr": repr(value)[:200]}


def described_step(step: dict[str, Any]) -> dict[str, Any]:
    """A transform step as the worker described it, its settings decoded (inner steps under params["transforms"])."""
    params = {str(name): as_param(values.decode(v)) for name, v in step["params"].items()}
    if "steps" in step:
        params["transforms"] = [described_step(s) for s in step["steps"]]
    return {**step, "params": params}
