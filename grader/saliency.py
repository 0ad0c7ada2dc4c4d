"""The saliency maps the Task 4.5 checks accept: every per-image scaling that is a correct reading, and the
tolerance they are compared with (the spreads behind it measured by benchmarks/calibrate.py).
"""

from __future__ import annotations

import numpy as np

# What is the task and what is free: the map is |d score_y / d X| (the class score, not the loss), its
# maximum over colour channels, each image's map scaled on its own to [0, 1]. How to scale is free:
# dividing by the map's maximum (the template's wording) and min-max scaling are both correct readings.
# The minimum of |gradient| is not 0 (about 0.001-0.003 of the maximum on these photos and seeded
# weights), so the two readings differ by more than the tolerance and each is compared as itself.
SALIENCY_ATOL, SALIENCY_RTOL = 2e-3, 1e-2


def scaling_readings(expected: np.ndarray) -> dict[str, np.ndarray]:
    """The reference's maps (divided by their maximum) under every accepted per-image scaling."""
    flat = expected.reshape(len(expected), -1)
    low = flat.min(axis=1)[:, None, None]
    return {"divided by its maximum": expected,
            "min-max scaled": (expected - low) / np.maximum(1.0 - low, 1e-12)}
