"""The student's world inside the worker: what Jupyter and the handed-out material give a submission.

Three things a submission may rely on without writing them, none of which may cost a point:

* **the template's given code** (helpers such as ``load_cifar10`` or ``to_image``, constants, its
  imports): run in a module of its own and lent to the submission for every name it does not
  define itself (a notebook need not copy the module it was handed);
* **Jupyter's built-ins** ``display`` and ``get_ipython``, which a notebook uses without importing;
* **imports the grader lacks** (``import seaborn``, ``from google.colab import drive``): an import
  statement in the student's own file that no installed package answers gets a stand-in module.
  While the module is being imported, calls on a stand-in do nothing (``drive.mount(...)``,
  ``sns.set_theme()``); once grading calls the student's functions, using it raises
  ``ModuleNotFoundError`` naming the module, so a graded function that needs it fails its check
  and says why, and one that does not is unaffected. Imports made by installed libraries never
  get a stand-in (their optional dependencies stay optional).
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

GIVEN_MODULE = "exercise4_given"
MISSING_TEXT = "is not installed on the grader"


class _Anything:
    """Accepts any attribute or call and does nothing (what `get_ipython()` returns outside Jupyter)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self


def install_notebook_builtins() -> None:
    """`display(...)` and `get_ipython()` as Jupyter provides them without an import."""
    if not hasattr(builtins, "display"):
        builtins.display = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    if not hasattr(builtins, "get_ipython"):
        builtins.get_ipython = lambda: _Anything()  # type: ignore[attr-defined]


class MissingModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stand-ins for modules that the student's own import statements ask for and nothing installed provides."""

    def __init__(self, student_file: str) -> None:
        self.student_file = student_file
        self.missing: list[str] = []
        self.importing = True

    def _asked_by_student(self) -> bool:
        """Whether the import statement being run is in the student's file (not in an installed library)."""
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
            frame = frame.f_back  # type: ignore[assignment]
        return frame is not None and frame.f_code.co_filename == self.student_file

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not self._asked_by_student():
            return None
        # `from google.colab import drive` asks for google, then google.colab: the note names the longest.
        self.missing = [m for m in self.missing if not fullname.startswith(m + ".")]
        if not any(m.startswith(fullname + ".") for m in self.missing) and fullname not in self.missing:
            self.missing.append(fullname)
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _MissingModule(spec.name)
        module._finder = self
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []  # a package, so that `import a.b` finds a stand-in for `a.b` too


class _MissingModule(types.ModuleType):
    _finder: MissingModules

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Missing(f"{self.__name__}.{name}", self._finder, self.__name__)


class Missing:
    """A name from a module the grader lacks: harmless while importing, an error naming the module when used."""

    def __init__(self, name: str, finder: MissingModules, module: str) -> None:
        self._name = name
        self._finder = finder
        self._module = module

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Missing(f"{self._name}.{name}", self._finder, self._module)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._finder.importing:
            return Missing(f"{self._name}(…)", self._finder, self._module)
        raise ModuleNotFoundError(f"{self._module} {MISSING_TEXT}, and your code called {self._name}()",
                                  name=self._module)

    def __repr__(self) -> str:
        return f"<stand-in for {self._name}: not installed on the grader>"


def given_names(source: str, own: list[str]) -> dict[str, Any]:
    """Run the template's given code in a module of its own; its names except those the student writes."""
    module = types.ModuleType(GIVEN_MODULE)
    module.__file__ = f"<{GIVEN_MODULE}>"
    sys.modules[GIVEN_MODULE] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the grader's own template
    return {k: v for k, v in vars(module).items() if not k.startswith("__") and k not in own}


def lent_names(module: types.ModuleType, lent: dict[str, Any]) -> list[str]:
    """The given helpers and constants a submission used without defining them (imports left out)."""
    out = []
    for name, value in lent.items():
        if name.startswith("_") or module.__dict__.get(name) is not value or isinstance(value, types.ModuleType):
            continue
        defined_there = getattr(value, "__module__", None) == GIVEN_MODULE
        if defined_there or name.isupper():
            out.append(name)
    return sorted(out)
