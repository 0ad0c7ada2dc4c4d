"""Intake: file names, safe unpacking of hostile zips, the code file rule, notebooks and PDFs."""

from __future__ import annotations

import io
import os
import stat
import struct
import time
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path

import matplotlib
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.config import MiB, Settings, ZipLimits
from grader.errors import SubmissionRejected
from grader.intake import NotebookError, PdfCheck, check_pdf, notebook_to_module, open_submission, parse_name

matplotlib.use("Agg")

GOOD_CODE = '''"""Exercise 4 by a student."""
import torch
import torch.nn.functional as F

X = torch.tensor([[1, 0, 0, 1, 1, 0], [0, 1, 0, 0, 0, 1]], dtype=torch.float32)
W1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def conv_relu(x, w, b, stride=1, padding=0):
    """ReLU of the cross-correlation of x with w plus b."""
    out = F.conv2d(x[None, None], w[None, None], stride=stride, padding=padding)
    return torch.relu(out + b)[0, 0]


def conv_output_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def receptive_field(layers):
    field, jump = 1, 1
    for layer in layers:
        kernel, stride = layer[0], layer[1]
        field += (kernel - 1) * jump
        jump *= stride
    return field


RF_ANSWERS = {"a": 7, "b": 10}
'''

OTHER_CODE = '''import numpy as np
def completely_different_function(alpha, beta):
    return np.linalg.solve(alpha, beta) * 42
class SomethingElse:
    value_of_something = "nothing to do with convolutions"
print("this program computes a linear system of equations")
'''


# --------------------------------------------------------------------------- factories

def make_pdf_bytes(text: str) -> bytes:
    """A real PDF showing text in a monospace font, 70 lines per page, as a student would print code."""
    from matplotlib.backends.backend_pdf import PdfPages
    import matplotlib.pyplot as plt

    lines = text.splitlines() or [""]
    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        for start in range(0, len(lines), 70):
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.04, 0.97, "\n".join(lines[start:start + 70]), family="monospace", fontsize=7, va="top")
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()


@pytest.fixture
def make_zip(tmp_path: Path) -> Callable[..., Path]:
    """Build `tmp_path/zips/<name>` from {member name: content}; ZipInfo keys allow special members."""

    def make(name: str, files: dict[str | zipfile.ZipInfo, bytes | str], *,
             compression: int = zipfile.ZIP_DEFLATED) -> Path:
        folder = tmp_path / "zips"
        folder.mkdir(exist_ok=True)
        path = folder / name
        with zipfile.ZipFile(path, "w", compression) as zf:
            for member, content in files.items():
                data = content.encode("utf-8") if isinstance(content, str) else content
                zf.writestr(member, data)
        return path

    return make


@pytest.fixture
def submit(tmp_path: Path) -> Callable[..., object]:
    """Run open_submission on a zip with tmp_path/work as its work directory."""

    def run(zip_path: Path, settings: Settings | None = None):
        return open_submission(zip_path, tmp_path / "work", settings or Settings())

    return run


def set_member_flags(path: Path, member: str, set_bits: int = 0, clear_bits: int = 0) -> None:
    """Patch a member's general-purpose flags in its local and central headers (zipfile resets them)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        start_dir = _central_dir_offset(data)
    for offset in (info.header_offset + 6, _central_header_of(data, start_dir, info) + 8):
        (flags,) = struct.unpack_from("<H", data, offset)
        struct.pack_into("<H", data, offset, (flags | set_bits) & ~clear_bits)
    path.write_bytes(bytes(data))


def _central_dir_offset(data: bytearray) -> int:
    """Offset of the central directory, read from the end-of-central-directory record."""
    eocd = data.rfind(b"PK\x05\x06")
    return struct.unpack_from("<I", data, eocd + 16)[0]


def _central_header_of(data: bytearray, offset: int, info: zipfile.ZipInfo) -> int:
    """Offset of the central directory header that points at info's local header."""
    while data[offset:offset + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", data, offset + 28)
        (local,) = struct.unpack_from("<I", data, offset + 42)
        if local == info.header_offset:
            return offset
        offset += 46 + n + m + k
    raise AssertionError("central header not found")


def raw_zip(names: list[bytes], flags: int = 0) -> bytes:
    """A zip of empty stored members with raw name bytes, built by hand (fast, and names as given)."""
    local, central = bytearray(), bytearray()
    for name in names:
        offset = len(local)
        local += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, flags, 0, 0, 0, 0, 0, 0, len(name), 0) + name
        central += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, flags, 0, 0, 0, 0, 0, 0, len(name),
                               0, 0, 0, 0, 0, offset) + name
    count = min(len(names), 0xFFFF)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, len(central), len(local), 0)
    return bytes(local + central + end)


def tree(root: Path) -> set[str]:
    """Every path under root, relative, as posix strings."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize(("filename", "surname", "number"), [
    ("Mustermann-123456.zip", "Mustermann", "123456"),
    ("Müller-1234567.zip", "Müller", "1234567"),
    (unicodedata.normalize("NFD", "Müller-1234567.zip"), "Müller", "1234567"),
    ("O'Brien-123456.zip", "O'Brien", "123456"),
    ("D’Angelo-12345678.zip", "D’Angelo", "12345678"),
    ("Meyer-Lüdenscheidt-112233.zip", "Meyer-Lüdenscheidt", "112233"),
    ("Ωμέγα-1234567.zip", "Ωμέγα", "1234567"),
    ("शर्मा-123456.zip", "शर्मा", "123456"),
    ("Nguyễn-123456.ZIP", "Nguyễn", "123456"),
])
def test_good_names(filename: str, surname: str, number: str) -> None:
    student = parse_name(filename, (6, 7, 8))
    assert student.surname == unicodedata.normalize("NFC", surname)
    assert student.matriculation == number


@pytest.mark.parametrize(("filename", "why"), [
    ("Mustermann.zip", "no hyphen"),
    ("Mustermann-.zip", "no matriculation number"),
    ("Mustermann-12a456.zip", "'12a456'"),
    ("Mustermann-12345.zip", "5 digits"),
    ("Mustermann-123456789.zip", "9 digits"),
    ("Muster mann-123456.zip", "contains spaces"),
    ("-123456.zip", "no surname"),
    ("Mustermann-123456.rar", "does not end in .zip (it ends in .rar)"),
    ("Mustermann-123456.pdf.zip", "more than one extension"),
    ("Mustermann-123456.zip.zip", "more than one extension"),
    ("Mustermann-123456-final.zip", "'final'"),
    ("Mustermann-123456 (1).zip", "contains spaces"),
    ("Mustermann_123456.zip", "no hyphen"),
    ("Muster2mann-123456.zip", "digit in the surname"),
    ("Meyer--Lüdenscheidt-123456.zip", "empty surname part"),
    ("O''Brien-123456.zip", "apostrophe"),
    ("Mustermann-١٢٣٤٥٦.zip", "digits only"),
])
def test_bad_names_say_what_is_wrong_and_what_is_right(filename: str, why: str) -> None:
    with pytest.raises(SubmissionRejected) as caught:
        parse_name(filename, (6, 7, 8))
    assert caught.value.flag == "naming"
    assert why in caught.value.reason
    assert "should look like Mustermann-123456.zip" in caught.value.reason
    assert "6, 7 or 8" in caught.value.reason


def test_allowed_lengths_come_from_settings() -> None:
    assert parse_name("Mustermann-12345.zip", (5,)).matriculation == "12345"
    with pytest.raises(SubmissionRejected):
        parse_name("Mustermann-123456.zip", (5,))


def test_a_bad_name_is_rejected_before_the_zip_is_read(tmp_path: Path, submit) -> None:
    path = tmp_path / "Mustermann 123456.zip"
    path.write_bytes(b"not even a zip")
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert caught.value.flag == "naming"


# --------------------------------------------------------------------------- good submissions

def test_good_py_submission(make_zip, submit, tmp_path: Path) -> None:
    path = make_zip("Müller-123456.zip", {"exercise4.py": GOOD_CODE, "exercise4.pdf": make_pdf_bytes(GOOD_CODE)})
    intake = submit(path)
    assert intake.student.surname == "Müller"
    assert intake.code_kind == "py" and intake.code_name == "exercise4.py"
    assert intake.flags == ()
    assert intake.pdf.present and intake.pdf.readable and intake.pdf.shows_code is True
    assert sorted(os.listdir(intake.module_dir)) == ["exercise4.definitions", "exercise4.py"]  # ours: the module and its definitions alone
    assert (intake.module_dir / "exercise4.py").read_text(encoding="utf-8") == GOOD_CODE
    assert intake.code_path.is_relative_to(tmp_path / "work" / "files")


def test_only_the_module_reaches_module_dir(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {
        "exercise4.py": GOOD_CODE, "conftest.py": "import os; os._exit(0)\n", "sitecustomize.py": "raise SystemExit\n",
        "pytest.ini": "[pytest]\n", "exercise4.pdf": make_pdf_bytes(GOOD_CODE)})
    intake = submit(path)
    assert sorted(os.listdir(intake.module_dir)) == ["exercise4.definitions", "exercise4.py"]  # ours: the module and its definitions alone
    assert intake.code_name == "exercise4.py"


def test_single_top_folder_macosx_and_ds_store_are_ignored(make_zip, submit, tmp_path: Path) -> None:
    path = make_zip("Mustermann-123456.zip", {
        "Mustermann-123456/exercise4.py": GOOD_CODE,
        "Mustermann-123456/code.pdf": make_pdf_bytes(GOOD_CODE),
        "Mustermann-123456/.DS_Store": b"\0\0\0\1Bud1",
        "__MACOSX/Mustermann-123456/._exercise4.py": b"\0\5\26\7",
        "Mustermann-123456/.ipynb_checkpoints/exercise4-checkpoint.ipynb": "{}",
        "Mustermann-123456/__pycache__/exercise4.cpython-311.pyc": b"\0",
    })
    intake = submit(path)
    assert intake.code_name == "Mustermann-123456/exercise4.py"
    assert tree(tmp_path / "work" / "files") == {"exercise4.py", "code.pdf"}
    assert intake.flags == ()


def test_code_under_a_non_ascii_cp437_name(tmp_path: Path, submit) -> None:
    # "Übung.py" as cp437 bytes without the UTF-8 flag, as old Windows zippers write it.
    name = "Übung.py".encode("cp437")
    path = tmp_path / "Mustermann-123456.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X" * len(name), GOOD_CODE)
    path.write_bytes(path.read_bytes().replace(b"X" * len(name), name))
    with zipfile.ZipFile(path) as zf:
        assert not zf.infolist()[0].flag_bits & 0x800
    intake = submit(path)
    assert intake.code_name == "Übung.py"
    assert "code-renamed" in intake.flags
    assert (intake.module_dir / "exercise4.py").read_text(encoding="utf-8") == GOOD_CODE


def test_undecodable_and_odd_names_do_not_crash(tmp_path: Path, submit) -> None:
    path = tmp_path / "Mustermann-123456.zip"
    path.write_bytes(raw_zip([b"\xff\xfe\x00odd.txt", b"a\x01b|c?.txt", b"exercise4.py"]))
    intake = submit(path)
    assert intake.code_name == "exercise4.py"
    assert all("\x00" not in p and "\x01" not in p for p in tree(tmp_path / "work" / "files"))


def test_names_flagged_utf8_but_not_utf8_are_a_corrupt_zip(tmp_path: Path, submit) -> None:
    path = tmp_path / "Mustermann-123456.zip"
    path.write_bytes(raw_zip([b"\xff\xfe.py"], flags=0x800))
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert caught.value.flag == "corrupt-zip"


# --------------------------------------------------------------------------- unsafe zips

@pytest.mark.parametrize("evil", ["../evil.py", "../../evil.py", "/abs_evil.py", "a/../../evil.py",
                                  "..\\..\\evil.py", "C:/evil.py", "C:\\evil.py"])
def test_zip_slip_members_are_skipped(evil: str, make_zip, submit, tmp_path: Path) -> None:
    outside_before = set(os.listdir(tmp_path.parent))
    path = make_zip("Mustermann-123456.zip", {evil: "import os\n", "exercise4.py": GOOD_CODE})
    intake = submit(path)
    assert "unsafe-member" in intake.flags
    assert any("skipped" in note for note in intake.notes)
    assert set(os.listdir(tmp_path.parent)) == outside_before
    assert not Path("/abs_evil.py").exists()
    assert all("evil" not in p for p in tree(tmp_path / "work"))
    assert tree(tmp_path / "work" / "files") == {"exercise4.py"}


def test_symlink_members_are_never_created(make_zip, submit, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("exercise4.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = make_zip("Mustermann-123456.zip", {link: "/etc/passwd", "solution.py": GOOD_CODE})
    intake = submit(path)
    assert "unsafe-member" in intake.flags
    assert any("symbolic link" in note for note in intake.notes)
    assert not any(p.is_symlink() for p in (tmp_path / "work").rglob("*"))
    assert intake.code_name == "solution.py"


def test_zip_bomb_is_rejected_by_its_ratio(make_zip, submit, tmp_path: Path) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE, "zeros.bin": bytes(20 * MiB)})
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert caught.value.flag == "zip-limits"
    assert "compressed" in caught.value.reason and str(20 * MiB) in caught.value.reason
    assert not (tmp_path / "work" / "files" / "zeros.bin").exists()


@pytest.mark.parametrize(("limits", "words"), [
    (ZipLimits(max_member_bytes=1000), "per file"),
    (ZipLimits(max_total_bytes=3000), "at most 3000 are accepted"),
    (ZipLimits(max_entries=2), "3 entries; at most 2"),
])
def test_declared_limits_are_checked_before_extracting(limits: ZipLimits, words: str, make_zip, submit,
                                                       tmp_path: Path) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE * 2, "b.txt": os.urandom(2000),
                                              "c.txt": "x"})
    with pytest.raises(SubmissionRejected) as caught:
        submit(path, Settings(zip_limits=limits))
    assert caught.value.flag == "zip-limits"
    assert words in caught.value.reason
    assert tree(tmp_path / "work" / "files") == set()


def test_lying_declared_sizes_are_caught_while_extracting(make_zip, submit, tmp_path: Path) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE, "big.txt": os.urandom(5000)},
                    compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("big.txt")
    central = _central_header_of(data, _central_dir_offset(data), info)
    struct.pack_into("<I", data, central + 24, 100)  # declared uncompressed size: 100 bytes
    path.write_bytes(bytes(data))
    with pytest.raises(SubmissionRejected) as caught:
        submit(path, Settings(zip_limits=ZipLimits(max_member_bytes=1000)))
    # zipfile stops at the declared size and then fails its CRC check: either way no verdict crash.
    assert caught.value.flag in ("zip-limits", "corrupt-zip")
    assert not (tmp_path / "work" / "files" / "big.txt").exists()


def test_sixty_thousand_entries_are_rejected_fast(tmp_path: Path, submit) -> None:
    path = tmp_path / "Mustermann-123456.zip"
    path.write_bytes(raw_zip([f"f{i}.txt".encode() for i in range(60_000)]))
    start = time.perf_counter()
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert time.perf_counter() - start < 5
    assert caught.value.flag == "zip-limits" and "60000 entries" in caught.value.reason
    assert tree(tmp_path / "work" / "files") == set()


def test_encrypted_member(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE})
    set_member_flags(path, "exercise4.py", set_bits=0x1)
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert caught.value.flag == "encrypted-zip"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "crc"])
def test_corrupt_zips(damage: str, make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE * 20}, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(os.urandom(4000))
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[200:210] = b"##########"  # inside the stored code: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert caught.value.flag == "corrupt-zip"


@pytest.mark.parametrize("files", [{}, {"__MACOSX/._x": b"\0", ".DS_Store": b"\0", "folder/": b""}])
def test_empty_zips(files: dict, make_zip, submit) -> None:
    with pytest.raises(SubmissionRejected) as caught:
        submit(make_zip("Mustermann-123456.zip", files))
    assert caught.value.flag == "empty-zip"


def test_zip_inside_the_zip_is_not_opened(make_zip, submit, tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("exercise4.py", "raise SystemExit\n")
    path = make_zip("Mustermann-123456.zip", {"inner.zip": inner.getvalue(), "solution.py": GOOD_CODE})
    intake = submit(path)
    assert "nested-zip" in intake.flags
    assert intake.code_name == "solution.py"
    assert tree(tmp_path / "work" / "files") == {"solution.py"}


# --------------------------------------------------------------------------- which code file

@pytest.mark.parametrize(("files", "chosen", "renamed"), [
    ({"exercise4.py": GOOD_CODE, "exercise4.ipynb": None}, "exercise4.py", False),
    ({"Exercise4.ipynb": None, "helpers.py": "def helper():\n    pass\n"}, "Exercise4.ipynb", False),
    ({"src/exercise4.py": GOOD_CODE, "other.py": GOOD_CODE}, "src/exercise4.py", False),
    ({"my_solution.py": GOOD_CODE, "test_mine.py": GOOD_CODE, "setup.py": ""}, "my_solution.py", True),
    ({"helpers.py": "def helper():\n    pass\n", "mine.py": GOOD_CODE}, "mine.py", True),
    ({"helpers.py": "def helper():\n    pass\n", "work.ipynb": None}, "work.ipynb", True),
    ({"a.py": "def conv_relu(x, w, b):\n    pass\n", "work.ipynb": None}, "a.py", True),
    ({"a.py": "def conv_relu(x, w, b):\n    pass\n", "b.py": GOOD_CODE}, "b.py", True),
])
def test_code_file_rule(files: dict, chosen: str, renamed: bool, make_zip, submit) -> None:
    notebook = nbformat.writes(new_notebook(cells=[new_code_cell(GOOD_CODE)]))
    path = make_zip("Mustermann-123456.zip", {k: notebook if v is None else v for k, v in files.items()})
    intake = submit(path)
    assert intake.code_name == chosen
    assert intake.code_kind == chosen.rsplit(".", 1)[1]
    assert ("code-renamed" in intake.flags) == renamed
    if renamed:
        assert any(chosen in note for note in intake.notes)


def test_no_code_at_all(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"conftest.py": "", "test_ex.py": "", "report.pdf": b"%PDF-1.4"})
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert caught.value.flag == "no-code"


def test_code_that_is_not_utf8(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": "# Übung\nX = 1\n".encode("latin-1")})
    with pytest.raises(SubmissionRejected) as caught:
        submit(path)
    assert caught.value.flag == "bad-encoding"


def test_utf8_bom_is_accepted(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": b"\xef\xbb\xbf" + GOOD_CODE.encode()})
    intake = submit(path)
    compile((intake.module_dir / "exercise4.py").read_bytes(), "exercise4.py", "exec")


# --------------------------------------------------------------------------- notebooks

NOTEBOOK_CELLS = [
    "%matplotlib inline\n!pip install torchsummary\nimport torch\n"
    "import matplotlib.pyplot as plt\nfrom torch import nn",
    "X = torch.tensor([[1, 0], [0, 1]]).float()\nB1 = -1\nANSWERS = {'1b': 'Why? Because!'}\n"
    "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
    "@torch.no_grad()\ndef conv_relu(x, w, b, stride=1, padding=0):\n    return x\n\n\n"
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc1 = nn.Linear(400, 120)",
    "def train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=False):\n"
    "    raise RuntimeError('training ran during import')",
    "acc = train(Net(), None, None, None, None)\ntrain(Net(), None, None, None, None)\nplt.plot([1, 2])\nplt.show()",
    "for epoch in range(3):\n    train(Net(), None, None, None, None)",
    "if __name__ == '__main__':\n    train(Net(), None, None, None, None)",
    "%%bash\nrm -rf /",
    "%%time\nresult = train(Net(), None, None, None, None)\nSEED = 4",
    "def broken(:\n    pass",
    "files = !ls\nconv_relu?",
    "trainset = torchvision.datasets.CIFAR10(root='./data', download=True)",
]


def make_notebook(cells: list[str] = NOTEBOOK_CELLS, minor: int = 5) -> bytes:
    """A notebook of the given code cells (and one markdown cell), as bytes."""
    nb = new_notebook(cells=[new_markdown_cell("# Exercise 4"), *[new_code_cell(c) for c in cells]])
    nb.nbformat_minor = minor
    if minor < 5:
        for cell in nb.cells:
            cell.pop("id", None)
    return nbformat.writes(nb).encode("utf-8")


def test_notebook_to_module_keeps_definitions_and_drops_calls() -> None:
    source, notes = notebook_to_module(make_notebook())
    compile(source, "exercise4.py", "exec")
    assert source.startswith("# Extracted by the grader from a notebook")
    for kept in ("import torch", "from torch import nn", "def conv_relu", "@torch.no_grad()", "class Net",
                 "def train", "X = torch.tensor", "B1 = -1", "ANSWERS = {'1b': 'Why? Because!'}",
                 "device = torch.device", "SEED = 4"):
        assert kept in source
    for dropped in ("acc = train", "plt.show", "plt.plot", "for epoch", "__main__", "rm -rf", "pip install",
                    "%matplotlib", "result = ", "def broken", "!ls", "conv_relu?", "CIFAR10"):
        assert dropped not in source
    text = "\n".join(notes)
    for reason in ("`%matplotlib inline`", "`!pip install torchsummary`", "`acc = train(", "`plt.show()`",
                   "`for` statement", "__main__", "%%bash", "does not parse", "`files = !ls`", "CIFAR10"):
        assert reason in text


def test_notebook_module_imports_without_running_training(tmp_path: Path) -> None:
    cells = ["import math", "def train():\n    raise RuntimeError('trained')", "train()", "PI = math.pi",
             "result = train()"]
    source, _ = notebook_to_module(make_notebook(cells))
    namespace: dict = {}
    exec(compile(source, "exercise4.py", "exec"), namespace)  # noqa: S102 - our own test notebook
    assert "train" in namespace and "result" not in namespace


@pytest.mark.parametrize("minor", [0, 2, 4, 5])
def test_any_v4_minor_is_read(minor: int) -> None:
    source, _ = notebook_to_module(make_notebook(["def conv_relu(x, w, b):\n    return x"], minor=minor))
    assert "def conv_relu" in source


@pytest.mark.parametrize("data", [b"{not json", b'{"cells": []}', b"[1, 2]",
                                  nbformat.writes(new_notebook(cells=[new_markdown_cell("text only")])).encode()])
def test_bad_notebooks(data: bytes) -> None:
    with pytest.raises(NotebookError) as caught:
        notebook_to_module(data)
    assert caught.value.flag == "bad-notebook"


def test_notebook_submission(make_zip, submit) -> None:
    notebook = make_notebook()
    code = "\n\n".join(NOTEBOOK_CELLS)
    path = make_zip("Mustermann-123456.zip", {"exercise4.ipynb": notebook, "exercise4.pdf": make_pdf_bytes(code)})
    intake = submit(path)
    assert intake.code_kind == "ipynb" and intake.code_name == "exercise4.ipynb"
    module = (intake.module_dir / "exercise4.py").read_text(encoding="utf-8")
    assert "def conv_relu" in module and "plt.show" not in module
    compile(module, "exercise4.py", "exec")
    assert "notebook-filtered" in intake.flags
    assert any("plt.show()" in note for note in intake.notes)
    assert intake.pdf.shows_code is True
    assert os.listdir(intake.module_dir) == ["exercise4.py"]


# --------------------------------------------------------------------------- PDFs

def test_pdf_missing(make_zip, submit) -> None:
    intake = submit(make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE}))
    assert intake.pdf == PdfCheck(False, False, None, intake.pdf.message)
    assert "pdf-missing" in intake.flags
    assert len(intake.notes) == 1


def test_pdf_fake(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE, "exercise4.pdf": GOOD_CODE})
    intake = submit(path)
    assert intake.pdf.present and not intake.pdf.readable
    assert "pdf-invalid" in intake.flags


def test_pdf_mismatch(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE, "exercise4.pdf": make_pdf_bytes(OTHER_CODE)})
    intake = submit(path)
    assert intake.pdf.readable and intake.pdf.shows_code is False
    assert "pdf-mismatch" in intake.flags
    assert any("does not show the submitted code" in note for note in intake.notes)


def test_the_best_of_several_pdfs_counts(make_zip, submit) -> None:
    path = make_zip("Mustermann-123456.zip", {"exercise4.py": GOOD_CODE, "a.pdf": b"%PDF-1.4 junk",
                                              "b.pdf": make_pdf_bytes(GOOD_CODE)})
    intake = submit(path)
    assert intake.pdf.shows_code is True and intake.flags == ()


def test_check_pdf_matches_code_printed_with_other_line_breaks() -> None:
    # A printer that wraps long lines and adds page numbers still shows the code.
    wrapped = "\n".join(line[:50] + "\n" + line[50:] if len(line) > 50 else line for line in GOOD_CODE.splitlines())
    check = check_pdf(make_pdf_bytes("Page 1\n" + wrapped), GOOD_CODE)
    assert check.shows_code is True, check.message


def test_check_pdf_of_a_page_without_text() -> None:
    check = check_pdf(make_pdf_bytes(""), GOOD_CODE)
    assert check.readable and check.shows_code is False


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n" + os.urandom(3000), b"%PDF-1.4\n1 0 obj << /Type /Catalog",
                                  b"\x89PNG\r\n\x1a\n" + bytes(100)])
def test_check_pdf_never_raises_on_garbage(data: bytes) -> None:
    check = check_pdf(data, GOOD_CODE)
    assert check.present and not check.readable and check.shows_code is None


def test_check_pdf_password_protected() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(make_pdf_bytes(GOOD_CODE))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    check = check_pdf(out.getvalue(), GOOD_CODE)
    assert not check.readable and "password" in check.message


def test_check_pdf_reads_only_the_first_pages() -> None:
    from pypdf import PdfReader, PdfWriter

    page = PdfReader(io.BytesIO(make_pdf_bytes(OTHER_CODE))).pages[0]
    writer = PdfWriter()
    for _ in range(400):
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    start = time.perf_counter()
    check = check_pdf(out.getvalue(), GOOD_CODE)
    assert check.readable and check.shows_code is False
    assert time.perf_counter() - start < 20


def test_notebook_keeps_set_up_and_drops_what_reads_left_out_names(tmp_path, monkeypatch) -> None:
    cells = ["import os\nRESULTS_DIR = 'results'\nif not os.path.exists(RESULTS_DIR):\n    os.makedirs(RESULTS_DIR)",
             "activations = get_activations(model, x, layers)",
             "act = activations['maxpool'][0].numpy()\nsquares = [i * i for i in range(3)]",
             "from __future__ import annotations\ndef f(a=squares):\n    return a\ndef g(a=act):\n    return a"]
    source, notes = notebook_to_module(make_notebook(cells))
    assert source.startswith("from __future__ import annotations")
    assert "os.makedirs(RESULTS_DIR)" in source and "squares = " in source and "def f(" in source
    assert "act = " not in source and "def g(" not in source
    assert any("uses `activations`, which comes from a statement left out" in n for n in notes)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(source, "exercise4.py", "exec"), namespace)  # noqa: S102 - our own test notebook
    assert (tmp_path / "results").is_dir()


def test_the_worker_knows_the_definitions_file_by_the_intakes_name() -> None:
    """The worker imports nothing of the grader, so the name is written twice; they must agree."""
    from grader import intake
    from grader.worker import main

    assert main.DEFINITIONS_NAME == intake.DEFINITIONS_NAME and main.MODULE_NAME + ".py" == "exercise4.py"
