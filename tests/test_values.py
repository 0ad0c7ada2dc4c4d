"""The value codec (grader.worker.values): round trips through the wire, its limits, strictness on malformed input."""

from __future__ import annotations

import enum
import io
import json
import pickle

import numpy as np
import pytest
import torch

from grader.worker import protocol, values
from grader.worker.values import EnumMember, MalformedValue, Other, Tensor


def wire(tree):
    """A tree through the protocol as a reply travels (the grading side's bounds)."""
    buffer = io.BytesIO()
    protocol.write_message(buffer, {"ok": True, "value": tree})
    buffer.seek(0)
    return protocol.read_message(buffer, 1 << 30, protocol.REPLY_BOUNDS)["value"]


def roundtrip(value, **kwargs):
    return values.decode(wire(values.encode(value)), **kwargs)


class Colour(enum.Enum):
    RED = 1


@pytest.mark.parametrize("value", [None, True, False, 0, -3, 2**62, 1.5, float("inf"), "", "text ✓", [], [1, [2, "x"]],
                                   (), (1, (2.0, None)), {}, {"a": 1, "b": [1, 2]}, {1: "one", (1, 2): "pair", None: 0}])
def test_plain_values_round_trip_as_themselves(value):
    got = roundtrip(value)
    assert got == value and type(got) is type(value)


def test_nan_round_trips():
    assert np.isnan(roundtrip(float("nan")))


def test_tensors_keep_their_values_dtype_and_grad():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_(True)
    got = roundtrip(t)
    assert isinstance(got, Tensor) and got.is_tensor and got.requires_grad and got.dtype == "torch.float32"
    assert got.array.dtype == np.float32 and np.array_equal(got.array, t.detach().numpy())
    for dtype in (torch.int64, torch.uint8, torch.bool, torch.float16, torch.float64):
        assert np.array_equal(roundtrip(torch.ones(3, dtype=dtype)).array, np.ones(3)), dtype


def test_tensors_the_wire_lacks_travel_as_float64_exactly():
    t = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    got = roundtrip(t)
    assert got.dtype == "torch.bfloat16" and got.array.dtype == np.float64 and got.array.tolist() == [1.5, -2.25]
    assert roundtrip(torch.zeros(2, dtype=torch.complex64)) == Other("tensor of dtype torch.complex64 (strided)")


def test_zero_dim_and_empty_tensors_keep_their_shape():
    assert roundtrip(torch.tensor(3.0)).array.shape == ()
    assert roundtrip(torch.zeros(0, 4)).array.shape == (0, 4)


def test_a_tensor_subclass_and_a_non_contiguous_view_are_tensors():
    class Mine(torch.Tensor):
        pass

    assert np.array_equal(roundtrip(torch.ones(2).as_subclass(Mine)).array, np.ones(2))
    view = torch.arange(12.0).reshape(3, 4).t()
    assert np.array_equal(roundtrip(view).array, view.numpy())


def test_arrays_stay_arrays_and_numpy_scalars_stay_numpy():
    got = roundtrip(np.arange(4, dtype=np.int32))
    assert isinstance(got, Tensor) and not got.is_tensor and got.dtype == "int32"
    assert roundtrip(np.array([1, 2], dtype=np.uint64)).array.dtype == np.float64
    assert type(roundtrip(np.int64(3))) is np.int64 and roundtrip(np.int64(3)) == 3
    assert type(roundtrip(np.float32(0.5))) is np.float32
    assert type(roundtrip(np.bool_(True))) is np.bool_
    assert roundtrip(np.array(["a"])) == Other("array of dtype <U1")


def test_enums_by_name_and_other_objects_by_type():
    assert roundtrip(Colour.RED) == EnumMember("Colour", "RED")
    assert roundtrip(object()) == Other("builtins.object")
    assert roundtrip(lambda: 0).description.startswith("builtins.function")


def test_arguments_arrive_in_the_worker_as_torch_tensors_and_lists():
    x = np.arange(6, dtype=np.uint8).reshape(2, 3)
    tree = wire(values.encode({"image": x, "t": torch.ones(2), "layers": [(3, 1), (2, 2)], "n": 5}, arguments=True))
    got = values.decode(tree, torch_tensors=True)
    assert isinstance(got["image"], torch.Tensor) and got["image"].dtype == torch.uint8
    assert torch.equal(got["image"], torch.from_numpy(x)) and torch.equal(got["t"], torch.ones(2))
    assert got["layers"] == [[3, 1], [2, 2]] and got["n"] == 5
    got["image"] += 1  # writable: a probe may change its arguments
    with pytest.raises(ValueError, match="limits"):
        values.encode(list(range(values.MAX_ITEMS + 1)), arguments=True)


# ---------------------------------------------------------------------- limits


def nest(depth: int):
    value: object = 1
    for _ in range(depth):
        value = {"k": [value]}
    return value


def test_values_nested_too_deeply_are_described_and_the_deepest_fits_the_wire():
    deepest = [1]
    for _ in range(values.MAX_DEPTH - 1):
        deepest = [deepest]
    assert roundtrip(deepest) == deepest
    got = roundtrip([deepest])
    inner = got
    for _ in range(values.MAX_DEPTH):
        inner = inner[0]
    assert inner == Other("nested too deeply")
    # Dicts cost 3 JSON levels per level: still within REPLY_BOUNDS inside a probe's envelope.
    envelope = {"k": {"ok": True, "value": {"outputs": [values.encode(nest(values.MAX_DEPTH))]}}}
    assert wire(envelope)


def test_long_containers_are_described_not_cut():
    assert roundtrip(list(range(values.MAX_ITEMS))) == list(range(values.MAX_ITEMS))
    assert roundtrip(list(range(values.MAX_ITEMS + 1))) == Other(f"list of {values.MAX_ITEMS + 1} items "
                                                                 f"(more than {values.MAX_ITEMS})")
    assert roundtrip({i: i for i in range(values.MAX_ITEMS + 1)}).description.startswith("dict of")


def test_a_value_of_many_small_containers_is_bounded():
    assert roundtrip([[i] for i in range(values.MAX_ITEMS)]) == [[i] for i in range(values.MAX_ITEMS)]
    many = [[[j for j in range(10)] for _ in range(100)] for _ in range(20)]  # 22,000 values
    assert roundtrip(many) == Other(f"a value of more than {values.MAX_VALUES} parts")
    with pytest.raises(ValueError, match="limits"):
        values.encode(many, arguments=True)


def test_tensors_are_sent_whole_up_to_the_element_limit():
    big = torch.zeros(3, 224, 224)  # three saliency maps
    assert roundtrip(big).array.shape == (3, 224, 224)
    assert values.MAX_ELEMENTS >= 64 * 56 * 56


# ---------------------------------------------------------------------- malformed input


@pytest.mark.parametrize("tree, message", [
    ({"kind": "tensor", "array": 1.0}, "not a value of the format"),
    ({"__tuple__": [1], "__dict__": []}, "not a value of the format"),
    ({"__tuple__": "x"}, "not a list"),
    ({"__dict__": [[1, 2, 3]]}, "pair"),
    ({"__tensor__": [1, 2], "dtype": "torch.float32"}, "no array"),
    ({"__tensor__": np.zeros(2), "dtype": 5}, "dtype"),
    ({"__scalar__": "object", "value": 1}, "numeric"),
    ({"__scalar__": "int8", "value": 1000}, "cannot hold"),
    ({"__scalar__": "int64", "value": "3"}, "numeric"),
    ({"__enum__": "Colour"}, "names"),
    ({"__other__": 3}, "not text"),
    (b"\x80\x04", "type bytes"),
    (3 + 4j, "type complex"),
])
def test_malformed_input_raises_a_clear_error(tree, message):
    with pytest.raises(MalformedValue, match=message):
        values.decode(tree)


def test_malformed_values_are_value_errors_so_checks_flag_them():
    from grader.checks.conftest import MALFORMED

    assert issubclass(MalformedValue, MALFORMED)


def test_decoding_is_bounded_while_it_reads():
    with pytest.raises(MalformedValue, match="deeper"):
        values.decode(json.loads("[" * (values.MAX_DEPTH + 2) + "]" * (values.MAX_DEPTH + 2)))
    with pytest.raises(MalformedValue, match="items"):
        values.decode(list(range(values.MAX_ITEMS + 1)))
    with pytest.raises(MalformedValue, match="parts"):
        values.decode([[0] * 100 for _ in range(200)])


def test_a_pickle_is_never_unpickled():
    payload = pickle.dumps(Colour.RED)
    with pytest.raises(MalformedValue):
        values.decode({"__other__": payload})
    with pytest.raises(MalformedValue):
        values.decode(payload)
    # A name in the format never becomes an object: enums come back as names, dtypes only numeric ones.
    assert values.decode({"__enum__": "os", "name": "system"}) == EnumMember("os", "system")


def test_unhashable_keys_become_their_repr():
    tree = {"__dict__": [[[1, 2], "list key"], [{"__tuple__": [1]}, "tuple key"]]}
    assert values.decode(tree) == {"[1, 2]": "list key", (1,): "tuple key"}


# ---------------------------------------------------------------------- the student's errors


def test_errors_show_only_the_students_frames_and_exits_in_words():
    namespace: dict = {}
    exec(compile("def f():\n    raise ValueError('bad ' * 1000)\n", "exercise4.py", "exec"), namespace)  # noqa: S102
    try:
        namespace["f"]()
    except ValueError as exc:
        described = values.describe_failure(exc)
    assert described["type"] == "ValueError" and "exercise4.py" in described["traceback"]
    assert "test_values.py" not in described["traceback"] and described["message"].endswith("is longer)")
    assert values.describe_failure(SystemExit(3))["message"] == "your code called exit(3)"
    assert values.error_text(described).startswith("ValueError: bad bad")
    assert values.error_text(["forged"]) == "Error: ['forged']"


def test_the_graders_named_words_go_to_the_student_as_text():
    """A StrEnum argument (Device.CUDA) reaches the student's code as "cuda", never as an enum it cannot use."""
    from grader.config import Device

    assert values.encode(Device.CUDA, arguments=True) == "cuda" and type(values.encode(Device.CUDA, arguments=True)) is str
    assert values.decode(values.encode({"device": Device.CPU}, arguments=True)) == {"device": "cpu"}
