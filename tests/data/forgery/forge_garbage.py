# --- appended to the bare template by tests/test_forgery.py ---------------------------------------
# Every probe of the worker replaced by one answering with values of the wrong shape, type or range:
# strings for numbers, infinities, nested lists, missing keys, "fast" for a speed.
import itertools as _it

import ex4worker.probes as _probes

_garbage = _it.cycle([
    {"ok": True, "value": "fast"},
    {"ok": True, "value": None},
    {"ok": True, "value": {"kind": "list", "items": "x", "images_per_s": "fast"}},
    {"ok": True, "value": [[[[]]]] * 3, "state": 3, "orders": "x", "images_per_s": float("inf")},
    {"ok": True, "value": {"normalization=False": {"ok": True, "value": {"modules": "x", "executed": 5}}}},
    {"ok": True, "value": {"kind": "tensor", "array": float("nan")}, "hooks_left": 7, "weights_after": "x"},
    {"ok": "yes", "error": None},
    {"augment=False,normalize=False": {"ok": True, "value": {"steps": [None], "outputs": [1e308]}}},
])


def _reply(*args, **kwargs):
    return next(_garbage)


for _name in list(_probes.PROBES):
    if _name != "answers":
        _probes.PROBES[_name] = _reply
