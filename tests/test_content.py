"""Exercise 4 content: the reference, the generated student template, its public tests and the submission script."""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from grader.data import extract_plain
from grader.errors import ConfigError
from grader.template import BEGIN, END, STUB, build_template, render_template, stub_source, template_diff

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
TEMPLATE = ROOT / "student_template"
SHIPPED_DATA = ROOT / "data" / "cifar10-subset.tar.xz"
UNPACKED_DATA = ROOT / "data" / "cache" / "cifar10-subset"
ANSWER_IDS = ("1b", "1d", "1e", "2c", "2d", "3.3", "3.4", "4.5")
HAND_KEYS = ("w1_s1", "w2_s1", "w3_s1", "w1_s2", "w2_s2", "w3_s2")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def child_env(**extra: str) -> dict[str, str]:
    """Return the environment for a child Python: no bytecode in the copied folders, no windows."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    env.update(extra)
    return env


def load_module(path: Path, name: str) -> ModuleType:
    """Return the module at path, imported under name (our own code: reference or template)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_template(dest: Path, module: Path | None = None) -> Path:
    """Copy the student template to dest, optionally with module copied over the stubbed exercise4.py."""
    shutil.copytree(TEMPLATE, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if module is not None:
        shutil.copyfile(module, dest / "exercise4.py")
    return dest


def run_public_tests(folder: Path) -> tuple[int, dict[str, tuple[str, str]], float]:
    """Run plain pytest in folder; return its exit code, test id -> (outcome, message) and seconds taken."""
    junit = folder.parent / f"{folder.name}-junit.xml"
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}"],
        cwd=folder, env=child_env(), capture_output=True, text=True, timeout=300,
    )
    seconds = time.monotonic() - start
    assert junit.exists(), f"pytest wrote no report:\n{done.stdout}\n{done.stderr}"
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome, message = tag, node.get("message", "")
        results[case.get("name", "")] = (outcome, message)
    return done.returncode, results, seconds


def write_tiny_cifar(root: Path, per_batch: int = 4, test_size: int = 6) -> Path:
    """Write a small data set in CIFAR-10's on-disk format (md5 sums unlike the real files) under root."""
    from grader.worker.probes import write_cifar

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5 * per_batch + test_size, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images))
    train = (images[:-test_size], labels[:-test_size])
    write_cifar(str(root), train, (images[-test_size:], labels[-test_size:]))
    return root


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return load_module(SOLUTIONS / "exercise4.py", "exercise4_reference")


# --- the template -----------------------------------------------------------------


def test_template_in_sync():
    assert template_diff(SOLUTIONS, TEMPLATE) == [], "student_template/ is stale: run `grader template`"


def test_solution_notebook_has_no_outputs():
    nb = json.loads((SOLUTIONS / "exercise4.ipynb").read_text(encoding="utf-8"))
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code)


def marked_regions(lines: list[str]) -> list[tuple[int, int]]:
    """Return the [start, end] line indices of each STUB ... END SOLUTION region."""
    regions, start = [], None
    for i, line in enumerate(lines):
        if line.strip().startswith(STUB):
            start = i
        elif line.strip() == END:
            assert start is not None
            regions.append((start, i))
            start = None
    return regions


def test_template_differs_from_solution_only_in_stubs():
    solution = (SOLUTIONS / "exercise4.py").read_text(encoding="utf-8").splitlines()
    template = (TEMPLATE / "exercise4.py").read_text(encoding="utf-8").splitlines()
    regions = marked_regions(solution)
    assert len(regions) >= 15
    matcher = difflib.SequenceMatcher(a=solution, b=template, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        last = max(i1, i2 - 1)
        inside = any(start <= i1 and last <= end for start, end in regions)
        assert inside, f"solution lines {i1 + 1}-{i2} changed outside a solution block: {template[j1:j2]}"
    for name in ("exercise4.ipynb", "test_exercise4.py", "pytest.ini", "README.md", "make_submission.py"):
        assert (TEMPLATE / name).read_bytes() == render_template(SOLUTIONS)[name]


def test_template_module_imports_with_placeholders():
    stub = load_module(TEMPLATE / "exercise4.py", "exercise4_template")
    assert set(stub.HAND_COMPUTED) == set(HAND_KEYS) and all(v is None for v in stub.HAND_COMPUTED.values())
    assert stub.RF_ANSWERS == {"a": None, "b": None}
    assert stub.ANSWERS == {key: "" for key in ANSWER_IDS}
    with pytest.raises(NotImplementedError, match=r"^Task 1\(a\)"):
        stub.conv_relu(stub.X, stub.W1, stub.B1)
    with pytest.raises(NotImplementedError, match=r"^Task 3\.2"):
        stub.Net()


def test_reference_answers_cover_every_question(reference):
    assert set(reference.ANSWERS) == set(ANSWER_IDS)
    assert all(len(text.split()) >= 10 for text in reference.ANSWERS.values())


def test_build_template_and_diff(tmp_path):
    dest = tmp_path / "template"
    build_template(SOLUTIONS, dest)
    assert template_diff(SOLUTIONS, dest) == []
    (dest / "README.md").write_text("edited by hand\n", encoding="utf-8")
    (dest / "exercise4.ipynb").unlink()
    (dest / "extra.py").write_text("x = 1\n", encoding="utf-8")
    (dest / "__pycache__").mkdir()  # left by running the tests: not part of the template
    assert template_diff(SOLUTIONS, dest) == ["README.md", "exercise4.ipynb", "extra.py"]
    build_template(SOLUTIONS, dest)
    assert template_diff(SOLUTIONS, dest) == []


def test_stub_source_replaces_blocks():
    source = (
        "def f(x):\n"
        '    """Return x."""\n'
        "    ### STUB: Task 9: f(): return x\n"
        "    ### BEGIN SOLUTION\n"
        "    return x\n"
        "    ### END SOLUTION\n"
        "\n"
        "### STUB: Task 9(b): answer\n"
        "### BEGIN SOLUTION\n"
        'ANSWERS = {"9b": "because", "n": 3}\n'
        "### END SOLUTION\n"
    )
    stubbed = stub_source(source)
    assert 'raise NotImplementedError("Task 9: f(): return x")' in stubbed
    assert "return x\n" not in stubbed and "because" not in stubbed
    namespace: dict = {}
    exec(compile(stubbed, "<template>", "exec"), namespace)
    assert namespace["ANSWERS"] == {"9b": "", "n": None}


@pytest.mark.parametrize(
    "source, problem",
    [
        ("    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", "without a '### STUB:'"),
        ("    ### STUB: Task 1\n    ### BEGIN SOLUTION\n    pass\n", "is not closed"),
        ("    ### STUB:\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", "needs the task's text"),
        ("### STUB: Task 1\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "only assign dict literals"),
        ("    ### STUB: Task 1\n    pass\n", f"must be followed by '{BEGIN}'"),
    ],
)
def test_stub_source_rejects_bad_markers(source, problem):
    with pytest.raises(ConfigError, match=problem):
        stub_source(source)


# --- the public tests -------------------------------------------------------------


def test_reference_passes_every_public_test(tmp_path):
    folder = copy_template(tmp_path / "reference", SOLUTIONS / "exercise4.py")
    code, results, seconds = run_public_tests(folder)
    failed = {name: r for name, r in results.items() if r[0] != "passed"}
    assert code == 0 and not failed, failed
    assert len(results) >= 20
    assert seconds < 120, f"the public tests took {seconds:.0f} s on the reference"


def test_stubs_fail_every_public_test_naming_the_task(tmp_path):
    folder = copy_template(tmp_path / "stubs")
    code, results, _ = run_public_tests(folder)
    # 1 means "some tests failed": the run itself went through (2-4 would be an aborted run).
    assert code == 1
    assert len(results) >= 20
    not_failed = {name: r for name, r in results.items() if r[0] != "failure"}
    assert not not_failed, f"these public tests do not fail on the stubs: {not_failed}"
    unnamed = {name: msg for name, (_, msg) in results.items() if "Task " not in msg}
    assert not unnamed, f"these failures do not name their task: {unnamed}"


def test_public_tests_do_not_reveal_answers(reference):
    text = (SOLUTIONS / "public" / "test_exercise4.py").read_text(encoding="utf-8")
    for value in reference.HAND_COMPUTED.values():
        for row in value:
            assert str(row) not in text and str(row).replace(" ", "") not in text.replace(" ", "")
    tree = ast.parse(text)
    called = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "receptive_field"]
    assert all("(3, 1)] * 3" not in ast.unparse(c) and "(4, 2)] * 2" not in ast.unparse(c) for c in called)
    assert "RF_ANSWERS[" in text and "== 7" not in text and "== 10" not in text


# --- CIFAR-10 loading -------------------------------------------------------------


def test_load_cifar10_reads_a_subset_that_fails_the_md5_check(tmp_path, reference):
    import torchvision

    root = write_tiny_cifar(tmp_path / "cifar")
    train = reference.load_cifar10(root, train=True)
    test = reference.load_cifar10(root, train=False)
    assert type(train) is not torchvision.datasets.CIFAR10  # torchvision's own class refused it
    assert isinstance(train, torchvision.datasets.CIFAR10)
    assert (len(train), len(test)) == (20, 6)
    assert train.classes == CLASSES
    image, label = train[0]
    assert image.size == (32, 32) and 0 <= label < 10
    with_transform = reference.load_cifar10(root, train=False, transform=reference.make_transform(normalize=True))
    assert tuple(with_transform[0][0].shape) == (3, 32, 32)


def test_load_cifar10_without_data_says_what_is_missing(tmp_path, reference):
    root = write_tiny_cifar(tmp_path / "cifar")
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        reference.load_cifar10(root, train=True)
    with pytest.raises(FileNotFoundError):
        reference.load_cifar10(tmp_path / "nothing", train=True)


# --- ResNet18 weights ----------------------------------------------------------------


def test_load_resnet18_uses_weights_in_the_torch_cache_and_says_so(tmp_path, reference, monkeypatch):
    """The pretrained path, with a seeded stand-in for the ImageNet checkpoint (those cannot be downloaded here)."""
    import torch
    import torchvision

    torch.manual_seed(7)
    stand_in = torchvision.models.resnet18(weights=None).state_dict()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / reference.RESNET18_CHECKPOINT
    checkpoint.parent.mkdir(parents=True)
    torch.save(stand_in, checkpoint)

    model, note = reference.load_resnet18()
    assert note.startswith("Using the pretrained ImageNet weights") and str(checkpoint) in note
    assert not model.training
    assert all(torch.equal(value, stand_in[key]) for key, value in model.state_dict().items())

    explicit, note = reference.load_resnet18(weights_path=checkpoint)
    assert "pretrained" in note and torch.equal(explicit.fc.weight, stand_in["fc.weight"])


def test_load_resnet18_without_weights_falls_back_and_says_so(tmp_path, reference, monkeypatch):
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    before = torch.random.get_rng_state()
    first, note = reference.load_resnet18(seed=3)
    second, _ = reference.load_resnet18(seed=3)
    other, _ = reference.load_resnet18(seed=4)
    assert "No pretrained weights" in note and "random weights (seed 3)" in note
    assert torch.equal(first.conv1.weight, second.conv1.weight)
    assert not torch.equal(first.conv1.weight, other.conv1.weight)
    assert torch.equal(torch.random.get_rng_state(), before), "building the model leaves the caller's RNG alone"


# --- make_submission.py -------------------------------------------------------------


def make_pdf(path: Path, code: str = "def conv_relu(x, w, b): ...\n") -> Path:
    """Write a real PDF showing `code` as text (as students print their code) to path."""
    from grader.example import code_pdf

    path.write_bytes(code_pdf(code))
    return path


def blank_pdf(path: Path) -> Path:
    """A real one-page PDF with no text at all (a scan, say)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.figimage(np.random.default_rng(0).random((100, 100)))  # pixels only, as a scanned page
    fig.savefig(path, format="pdf")
    return path


def run_submission_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = SOLUTIONS / "public" / "make_submission.py"
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=300
    )


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# What a student writes: the names of the template's stubs (given helpers and values are not required).
CONTRACT_NAMES = (
    "conv_relu", "HAND_COMPUTED", "conv_output_size",
    "receptive_field", "RF_ANSWERS", "make_transform", "make_loaders", "Net", "train", "plot_accuracy",
    "show_augmentations", "resnet_layers", "get_activations", "saliency_maps", "ANSWERS",
)
# Defines every contract name and imports in an instant: the cases below are about the zip.
LIGHT_CODE = " = ".join(CONTRACT_NAMES) + " = None\n"


@pytest.fixture(scope="module")
def good_members(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("good")
    return {"exercise4.py": LIGHT_CODE.encode(),
            "exercise4.pdf": make_pdf(folder / "exercise4.pdf", LIGHT_CODE).read_bytes()}


@pytest.fixture(scope="module")
def submission_script() -> ModuleType:
    return load_module(SOLUTIONS / "public" / "make_submission.py", "make_submission_under_test")


def test_make_submission_knows_the_contract(submission_script):
    from grader.template import stub_names

    assert tuple(submission_script.CONTRACT_NAMES) == CONTRACT_NAMES
    assert list(CONTRACT_NAMES) == stub_names((SOLUTIONS / "exercise4.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "name",
    ["Mustermann-123456.zip", "Meyer-Lüdenscheidt-112233.zip", "O'Brien-1234567.zip", "D’Angelo-12345678.zip",
     "Müller-123456.ZIP", "Nguyễn-123456.zip", "Łukasiewicz-654321.zip", "王-123456.zip"],
)
def test_submission_names_that_follow_the_convention(submission_script, name):
    import unicodedata

    assert submission_script.name_problems(name) == []
    # macOS hands out decomposed names ("u" plus a combining diaeresis).
    assert submission_script.name_problems(unicodedata.normalize("NFD", name)) == []


@pytest.mark.parametrize(
    "name",
    ["Mustermann_123456.zip", "Mustermann-12345.zip", "Mustermann-123456789.zip", "Muster mann-123456.zip",
     "Mustermann-123456.pdf", "Mustermann-123456.zip.zip", "O''Brien-123456.zip", "'Brien-123456.zip",
     "Mustermann2-123456.zip", "-123456.zip", "Meyer--Lüdenscheidt-123456.zip", "123456-Mustermann.zip",
     "Mustermann-１２３４５６.zip"],
)
def test_submission_names_that_break_the_convention(submission_script, name):
    problems = submission_script.name_problems(name)
    assert problems and "Surname-MatriculationNumber.zip" in problems[0]


def test_make_submission_builds_a_good_zip(tmp_path):
    (tmp_path / "exercise4.py").write_bytes((SOLUTIONS / "exercise4.py").read_bytes())
    make_pdf(tmp_path / "exercise4.pdf", (SOLUTIONS / "exercise4.py").read_text(encoding="utf-8"))
    done = run_submission_script("Meyer-Lüdenscheidt", "112233", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "looks good" in done.stdout
    target = tmp_path / "out" / "Meyer-Lüdenscheidt-112233.zip"
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["exercise4.pdf", "exercise4.py"]


def test_make_submission_accepts_a_good_zip(tmp_path, good_members):
    target = make_zip(tmp_path / "Mustermann-123456.zip", good_members)
    done = run_submission_script("--check", str(target), cwd=tmp_path)
    assert done.returncode == 0 and "looks good" in done.stdout, done.stdout


def test_make_submission_refuses_to_build_without_inputs(tmp_path):
    done = run_submission_script("Mustermann", "12345", cwd=tmp_path)
    assert done.returncode == 1
    assert "6 to 8 digits" in done.stdout
    assert "No code found" in done.stdout
    assert "exercise4.pdf does not exist" in done.stdout
    assert not list(tmp_path.glob("*.zip"))


BAD_CODE = "raise RuntimeError('data folder not found')\n"
PARTIAL_CODE = "X = 1\ndef conv_relu(x, w, b, stride=1, padding=0):\n    return x\n"


@pytest.mark.parametrize(
    "zip_name, change, expected",
    [
        ("Mustermann_123456.zip", {}, "naming convention"),
        ("Mustermann-12345.zip", {}, "6 to 8 digits"),
        ("Muster mann-123456.zip", {}, "Write spaces as hyphens: Muster-mann-123456.zip"),
        ("Mustermann-123456.zip", {"exercise4.pdf": None}, "holds no PDF"),
        ("Mustermann-123456.zip", {"exercise4.pdf": b"just text, renamed\n"}, "is not a PDF"),
        ("Mustermann-123456.zip", {"exercise4.pdf": b"%PDF-1.4\nbroken"}, "cannot be read as a PDF"),
        ("Mustermann-123456.zip", {"exercise4.pdf": "stale"}, "does not show your code: only 0 of its 1 lines"),
        ("Mustermann-123456.zip", {"exercise4.pdf": "blank"}, "has no text the grader can read"),
        ("Mustermann-123456.zip", {"exercise4.py": None}, "holds no code"),
        ("Mustermann-123456.zip", {"exercise4.py": BAD_CODE.encode()}, "does not import: RuntimeError"),
        ("Mustermann-123456.zip", {"exercise4.py": b"def broken(:\n"}, "does not import: SyntaxError"),
        ("Mustermann-123456.zip", {"exercise4.py": PARTIAL_CODE.encode()}, "does not define HAND_COMPUTED, conv_output_size"),
    ],
    ids=["bad-name", "short-number", "space", "no-pdf", "fake-pdf", "broken-pdf", "stale-pdf", "blank-pdf", "no-code",
         "import-error", "syntax-error", "missing-names"],
)
def test_make_submission_names_each_problem(tmp_path, good_members, zip_name, change, expected):
    pdfs = {"stale": lambda: make_pdf(tmp_path / "stale.pdf", "def conv_relu(x, w, b): return None\n").read_bytes(),
            "blank": lambda: blank_pdf(tmp_path / "blank.pdf").read_bytes()}
    change = {name: pdfs[data]() if isinstance(data, str) else data for name, data in change.items()}
    members = {name: data for name, data in {**good_members, **change}.items() if data is not None}
    target = make_zip(tmp_path / zip_name, members)
    done = run_submission_script("--check", str(target), cwd=tmp_path)
    assert done.returncode == 1
    assert expected in done.stdout, done.stdout
    # Exactly the one problem made for this case (a bad name comes with its detail).
    assert done.stdout.count("\n  - ") <= 2, done.stdout


def test_make_submission_checks_a_notebook(tmp_path, good_members):
    nb = {
        "cells": [
            {"cell_type": "code", "source": ["%matplotlib inline\n", "X = 1\n"], "metadata": {}, "outputs": []},
            {"cell_type": "markdown", "source": "text", "metadata": {}},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    members = {"exercise4.ipynb": json.dumps(nb).encode(), "exercise4.pdf": good_members["exercise4.pdf"]}
    target = make_zip(tmp_path / "Mustermann-123456.zip", members)
    done = run_submission_script("--check", str(target), cwd=tmp_path)
    assert done.returncode == 1
    assert "exercise4.ipynb does not define conv_relu" in done.stdout, done.stdout


# --- the notebook -------------------------------------------------------------------


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    """Return a folder with the shipped subset: the unpacked cache if present, else unpacked into tmp."""
    if (UNPACKED_DATA / "cifar-10-batches-py" / "test_batch").is_file():
        return UNPACKED_DATA
    root = tmp_path_factory.mktemp("cifar10-subset")
    with tarfile.open(SHIPPED_DATA) as tar:
        extract_plain(tar, root)
    return root


def notebook_as_script(path: Path) -> str:
    """Return the notebook's code cells as one script that also draws every figure a cell shows."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    parts = ["import io as _io\nfrom matplotlib.figure import Figure as _Figure\n"]
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse(source)
        # Jupyter shows a cell's last expression; draw it so broken plots fail here too.
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = tree.body.pop()
            source = ast.unparse(tree) + "\n_shown = " + ast.unparse(last.value) + "\n"
            source += "if isinstance(_shown, _Figure):\n    _shown.savefig(_io.BytesIO(), format='png')\n"
        parts.append(source)
    return "\n\n".join(parts)


@pytest.mark.slow
def test_notebook_runs_quickly(tmp_path, cifar_root):
    script = tmp_path / "notebook.py"
    script.write_text(notebook_as_script(SOLUTIONS / "exercise4.ipynb"), encoding="utf-8")
    env = child_env(EX4_QUICK="1", CIFAR10_ROOT=str(cifar_root), PYTHONPATH=str(SOLUTIONS))
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)], cwd=SOLUTIONS, env=env, capture_output=True, text=True, timeout=180
    )
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "maxpool  [1, 64, 56, 56]" in done.stdout
    assert seconds < 120, f"the quick notebook run took {seconds:.0f} s"
