"""Transform pipelines rebuilt by the grader from a worker's description of them.

The worker describes each step of the student's pipeline (class, torchvision namespace, public
attributes). The grading process cannot trust that description, so it rebuilds the pipeline from
torchvision itself and applies it to the same image under the same seeds: only when the outputs
equal the student's is the description taken as what the pipeline does. A step the grader cannot
rebuild is named, and the checks that need the rebuild say so.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

KNOWN = {
    "Compose", "ToTensor", "PILToTensor", "ConvertImageDtype", "ToImage", "ToDtype", "ToPILImage", "Normalize",
    "RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "ColorJitter", "RandomRotation", "RandomResizedCrop",
    "Resize", "CenterCrop", "Pad", "RandomGrayscale", "Grayscale", "RandomApply", "RandomChoice", "RandomOrder",
    "GaussianBlur", "RandomAffine", "RandomPerspective", "RandomErasing", "RandomAutocontrast", "RandomEqualize",
    "RandomAdjustSharpness", "RandomInvert", "RandomPosterize", "RandomSolarize", "TrivialAugmentWide", "AutoAugment",
    "RandAugment",
}
"""torchvision transforms the grader rebuilds (in either namespace)."""


class CannotRebuild(Exception):
    """A step the grader does not rebuild; the message names it."""


def _namespace(family: Any) -> Any:
    import torchvision.transforms as v1
    import torchvision.transforms.v2 as v2

    if family == "v1":
        return v1
    if family == "v2":
        return v2
    raise CannotRebuild(f"a transform from {str(family)[:60]!r}, not from torchvision.transforms")


def _value(value: Any) -> Any:
    """A described attribute as the constructor takes it (enums by name, lists as tuples)."""
    import torchvision.transforms as v1

    if isinstance(value, dict) and set(value) == {"enum", "name"}:
        enum = getattr(v1, str(value["enum"]), None) or getattr(v1.functional, str(value["enum"]), None)
        if enum is None or not hasattr(enum, str(value["name"])):
            raise CannotRebuild(f"a setting {value['enum']}.{value['name']}")
        return getattr(enum, str(value["name"]))
    if isinstance(value, dict):
        raise CannotRebuild(f"a setting {str(value.get('repr', value))[:60]}")
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    return value


def rebuild_step(step: Any) -> Any:
    """One described step as a fresh torchvision transform."""
    if not isinstance(step, dict) or not isinstance(step.get("params"), dict):
        raise CannotRebuild("a step the grader could not read")
    kind = str(step.get("type"))
    if kind not in KNOWN:
        raise CannotRebuild(f"{kind[:60]}")
    cls = getattr(_namespace(step.get("family")), kind, None)
    if cls is None:
        raise CannotRebuild(f"{kind[:60]} in torchvision.transforms{'.v2' if step.get('family') == 'v2' else ''}")
    params = dict(step["params"])
    accepted = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    for name, value in params.items():
        if name not in accepted:
            continue
        if name == "transforms":
            if not isinstance(value, list):
                raise CannotRebuild(f"{kind}'s inner steps")
            kwargs[name] = [rebuild_step(s) for s in value]
        else:
            kwargs[name] = _value(value)
    if kind == "ColorJitter" and step.get("family") == "v1":
        # v1 keeps neutral settings as None, which its constructor does not take back; 0 means the same.
        kwargs = {k: (0 if v is None else v) for k, v in kwargs.items()}
    if kind == "Normalize":
        kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CannotRebuild(f"{kind} with these settings ({' '.join(str(exc).split())[:120]})") from None


def rebuild(description: dict[str, Any]) -> Any:
    """The whole pipeline: a Compose of the rebuilt steps (in the pipeline's own namespace) or the one step."""
    steps = description.get("steps")
    if not isinstance(steps, list) or not steps:
        raise CannotRebuild("a pipeline without steps")
    built = [rebuild_step(s) for s in steps]
    if description.get("type") != "Compose":
        if len(built) != 1:
            raise CannotRebuild(f"a {str(description.get('type'))[:60]} holding several steps")
        return built[0]
    return _namespace(description.get("family")).Compose(built)


def outputs_under_seeds(pipeline: Any, image: np.ndarray, samples: int) -> list[np.ndarray]:
    """The pipeline applied to a uint8 HWC image once per seed 0 … samples - 1, as the worker's probe does."""
    import torch
    from PIL import Image

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    out = []
    state = torch.random.get_rng_state()
    try:
        for seed in range(samples):
            torch.manual_seed(seed)
            value = pipeline(pil.copy())
            out.append(np.asarray(value.detach().to(torch.float64).numpy() if isinstance(value, torch.Tensor) else value,
                                  dtype=np.float64))
    finally:
        torch.random.set_rng_state(state)
    return out
