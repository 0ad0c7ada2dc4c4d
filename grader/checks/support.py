"""Helpers the checks share: comparing values and saying in words what was expected and what came back."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.student import CheckFailed


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


def tensor_of(described: dict[str, Any], what: str) -> np.ndarray:
    """The array inside a probe's tensor description, or CheckFailed saying what came back instead."""
    if described.get("kind") not in (None, "tensor") or described.get("array") is None:
        raise CheckFailed(f"{what} should return a torch.Tensor, but returned {described.get('type', described.get('kind'))}.")
    return np.asarray(described["array"], dtype=np.float64)


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


def nested_numbers(value: dict[str, Any]) -> Any:
    """A `constant`/`nested` probe value as nested lists of floats (None where it is not numeric)."""
    kind = value.get("kind")
    if kind == "tensor":
        return value["value"]
    if kind == "number":
        return value["value"]
    if kind == "list":
        return [nested_numbers(v) for v in value["items"]]
    return None


def nested_dict(value: dict[str, Any], what: str) -> dict[str, Any]:
    """A `nested` probe value that must be a dict, as {key: nested value}."""
    if value.get("kind") != "dict":
        raise CheckFailed(f"{what} should be a dict, but is {value.get('type', value.get('kind'))}.")
    return {k: v for k, v in value["items"]}
