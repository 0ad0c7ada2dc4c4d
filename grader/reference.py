"""The reference solution, loaded in the grading process only (never inside a sandbox)."""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from grader.errors import ConfigError


@lru_cache(maxsize=4)
def load_reference(path: Path) -> ModuleType:
    """Import the reference `exercise4.py` under a name of its own."""
    if not path.is_file():
        raise ConfigError(f"The reference solution {path} is missing.")
    spec = importlib.util.spec_from_file_location("ex4_reference", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"Cannot load the reference solution {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ex4_reference"] = module
    spec.loader.exec_module(module)
    return module
