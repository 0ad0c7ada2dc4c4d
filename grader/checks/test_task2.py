"""Task 2: Receptive field.

The task and what is free: receptive_field returns the receptive field of one unit of the last
layer for (kernel, stride[, dilation]) layers, first layer first; the recursion is free (forwards
with the jump, backwards from the output, a closed sum). RF_ANSWERS are the two numbers.
"""

from __future__ import annotations

import numpy as np

from grader.checks.support import call_kind, nested_dict, nested_numbers, shown
from grader.student import CheckFailed
from grader.worker import values


def stacks(rng: np.random.Generator, count: int, strided: bool) -> list[list[list[int]]]:
    out = []
    for _ in range(count):
        layers = []
        for _ in range(int(rng.integers(1, 6))):
            k = int(rng.integers(1, 8))
            if not strided:
                layers.append([k, 1])
            elif rng.random() < 0.5:
                layers.append([k, int(rng.integers(1, 4))])
            else:
                layers.append([k, int(rng.integers(1, 4)), int(rng.integers(1, 4))])
        out.append(layers)
    return out


def check_rf(ctx, ref, cases: list[list[list[int]]]) -> None:
    ctx.student.require("receptive_field")
    results = ctx.student.probe("call_many", "receptive_field()", name="receptive_field",
                                cases=[{"args": [[tuple(layer) for layer in case]]} for case in cases])
    for case, result in zip(cases, results):
        label = "receptive_field([" + ", ".join("(" + ", ".join(map(str, c)) + ")" for c in case) + "])"
        label += "  # (kernel, stride[, dilation]), first layer first"
        expected = ref.receptive_field([tuple(layer) for layer in case])
        if not result["ok"]:
            raise CheckFailed(f"{label} should run without error, but raised {result['error']['type']}: {result['error']['message']}")
        got = values.decode(result["value"])
        kind = call_kind(got)
        if kind not in ("int", "numpy-int") and not (kind in ("float", "numpy-float") and float(got).is_integer()):
            raise CheckFailed(f"{label} should return a whole number ({expected}), got {shown(got)}.")
        if int(got) != expected:
            raise CheckFailed(f"{label}: expected {expected} input pixels, got {got}.")


def test_receptive_field_stride1(ctx, ref):
    check_rf(ctx, ref, stacks(ctx.rng("rf1"), 12, strided=False))


def test_receptive_field_strided_dilated(ctx, ref):
    check_rf(ctx, ref, stacks(ctx.rng("rf2"), 20, strided=True))


def check_answer(ctx, ref, key: str, question: str) -> None:
    got = ctx.student.probe("constant", "RF_ANSWERS", name="RF_ANSWERS")
    if not got["present"]:
        raise CheckFailed("Your module does not define RF_ANSWERS.")
    answers = nested_dict(got["value"], "RF_ANSWERS")
    value = nested_numbers(answers.get(key))
    if not isinstance(value, float):
        raise CheckFailed(f"RF_ANSWERS[{key!r}] ({question}) should be a number, got {value!r}.")
    if value != ref.RF_ANSWERS[key]:
        raise CheckFailed(f"RF_ANSWERS[{key!r}] ({question}): expected {ref.RF_ANSWERS[key]} input pixels, got {value:g}.")


def test_rf_answer_a(ctx, ref):
    check_answer(ctx, ref, "a", "3 conv layers, kernel 3x3, stride 1")


def test_rf_answer_b(ctx, ref):
    check_answer(ctx, ref, "b", "2 conv layers, kernel 4x4, stride 2")
