"""Task 1: Convolutions revisited.

The task and what is free: conv_relu must equal ReLU(x * w + b) (PyTorch's cross-correlation, the
bias added, stride and zero padding as given) as a 2-D float tensor; how it is computed (conv2d,
unfold, loops, numpy windows) is free. HAND_COMPUTED holds the six results as rows of numbers
(lists, nested tuples, arrays or tensors all read the same). conv_output_size must return a Python
int with the floor; `//` or math.floor are both fine.
"""

from __future__ import annotations

import numpy as np
import torch

from grader.checks.support import call_kind, expect_close, fmt, nested_dict, nested_numbers, shown, tensor_of
from grader.student import CheckFailed
from grader.worker import values

HAND_KEYS = ("w1_s1", "w2_s1", "w3_s1", "w1_s2", "w2_s2", "w3_s2")


def conv_cases(rng: np.random.Generator, count: int, strided: bool) -> list[dict]:
    """Random inputs for conv_relu; binary images like the exercise's, plus real-valued ones."""
    cases = []
    for i in range(count):
        kh, kw = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) if strided else (int(rng.integers(2, 4)),) * 2
        stride = int(rng.integers(2, 4)) if strided else 1
        padding = int(rng.integers(0, 3)) if strided else 0
        h, w = int(rng.integers(max(kh, 4), 10)), int(rng.integers(max(kw, 4), 10))
        if i % 2:
            x = rng.integers(0, 2, (h, w)).astype(np.float32)
            k = rng.integers(0, 2, (kh, kw)).astype(np.float32)
        else:
            x = rng.normal(size=(h, w)).astype(np.float32)
            k = rng.normal(size=(kh, kw)).astype(np.float32)
        cases.append({"x": x, "w": k, "b": float(np.round(rng.uniform(-2, 2), 3)), "stride": stride, "padding": padding})
    return cases


def check_conv_relu(ctx, ref, cases: list[dict]) -> None:
    ctx.student.require("conv_relu")
    calls = [{"args": [torch.from_numpy(c["x"]), torch.from_numpy(c["w"]), c["b"]],
              "kwargs": {"stride": c["stride"], "padding": c["padding"]}} for c in cases]
    results = ctx.student.probe("call_many", "conv_relu()", name="conv_relu", cases=calls)
    for case, result in zip(cases, results):
        label = (f"conv_relu(x of shape {list(case['x'].shape)}, w of shape {list(case['w'].shape)}, "
                 f"b={case['b']}, stride={case['stride']}, padding={case['padding']})")
        if not result["ok"]:
            err = result["error"]
            raise CheckFailed(f"{label} should run without error, but raised {err['type']}: {err['message']}")
        expected = ref.conv_relu(torch.from_numpy(case["x"]), torch.from_numpy(case["w"]), case["b"],
                                 stride=case["stride"], padding=case["padding"]).numpy()
        expect_close(tensor_of(result["value"], label), expected, f"{label}\n(ReLU of the cross-correlation plus bias)")


def test_conv_relu_stride1(ctx, ref):
    check_conv_relu(ctx, ref, conv_cases(ctx.rng("conv1"), 8, strided=False))


def test_conv_relu_stride_padding(ctx, ref):
    check_conv_relu(ctx, ref, conv_cases(ctx.rng("conv2"), 10, strided=True))


def check_hand(ctx, ref, keys: tuple[str, ...]) -> None:
    got = ctx.student.probe("constant", "HAND_COMPUTED", name="HAND_COMPUTED")
    if not got["present"]:
        raise CheckFailed("Your module does not define HAND_COMPUTED.")
    table = nested_dict(got["value"], "HAND_COMPUTED")
    for key in keys:
        filt, stride = key.split("_")
        what = f"HAND_COMPUTED[{key!r}] (filter {filt}, stride {stride[1:]})"
        if key not in table:
            raise CheckFailed(f"{what} is missing.")
        value = nested_numbers(table[key])
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if value is None or array is None or array.ndim != 2:
            raise CheckFailed(f"{what} should be a 2-D list of numbers, got {fmt(value)}.")
        expect_close(array, np.asarray(ref.HAND_COMPUTED[key], dtype=np.float64), what, atol=1e-6)


def test_hand_computed_stride1(ctx, ref):
    check_hand(ctx, ref, HAND_KEYS[:3])


def test_hand_computed_stride2(ctx, ref):
    check_hand(ctx, ref, HAND_KEYS[3:])


def output_size_table(rng: np.random.Generator) -> list[tuple[int, int, int, int, int]]:
    """Cases where the floor, padding and dilation each change the answer."""
    fixed = [(5, 2, 2, 0, 1), (6, 3, 2, 0, 1), (32, 5, 1, 0, 1), (7, 3, 2, 1, 1), (10, 3, 1, 0, 2), (11, 4, 3, 2, 2)]
    cases = list(fixed)
    while len(cases) < 30:
        n, k, s, p, d = (int(rng.integers(3, 65)), int(rng.integers(1, 8)), int(rng.integers(1, 5)),
                         int(rng.integers(0, 4)), int(rng.integers(1, 4)))
        if n + 2 * p >= d * (k - 1) + 1:
            cases.append((n, k, s, p, d))
    return cases


def test_conv_output_size(ctx, ref):
    ctx.student.require("conv_output_size")
    cases = output_size_table(ctx.rng("size"))
    calls = [{"args": list(c)} for c in cases]
    results = ctx.student.probe("call_many", "conv_output_size()", name="conv_output_size", cases=calls)
    for (n, k, s, p, d), result in zip(cases, results):
        label = f"conv_output_size(n={n}, k={k}, s={s}, p={p}, d={d})"
        expected = ref.conv_output_size(n, k, s, p, d)
        if not result["ok"]:
            raise CheckFailed(f"{label} should run without error, but raised {result['error']['type']}: {result['error']['message']}")
        got = values.decode(result["value"])
        if call_kind(got) != "int":
            raise CheckFailed(f"{label} should return a Python int ({expected}), but returned a {call_kind(got)} ({shown(got)}).")
        if got != expected:
            raise CheckFailed(f"{label}: expected {expected} = floor((n + 2p - d(k-1) - 1) / s) + 1, got {got}.")
