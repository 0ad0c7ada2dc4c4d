"""The Gradescope autograder: the zip `grader gradescope` builds, and grading one upload inside it.

Layout (Gradescope's autograder specification): the zip unpacks into ``ROOT/source`` (ROOT is
``/autograder``, or ``$AUTOGRADER_ROOT``); ``setup.sh`` installs the grader once per image and
``run_autograder`` calls :func:`autograde` for each submission, which grades whatever the student
uploaded to ``ROOT/submission/`` and always leaves ``ROOT/results/results.json``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import traceback
import zipfile
from pathlib import Path
from typing import Any

from grader.config import DEFAULT, PROJECT_DIR, SHIPPED_DATA, Device, ZipLimits
from grader.errors import ConfigError, SubmissionRejected, interrupt_on_sigterm
from grader.flags import Flag

UPLOAD_NAME = "Gradescope-000000.zip"
"""The valid name an upload is graded under: Gradescope knows the student, so the naming rule must cost nothing."""
CONFIG_NAME = "gradescope.json"
REFERENCE_NAME = "solutions/exercise4.py"
DATA_NAME = "data/cifar10-subset.tar.xz"
DATA_DIR = "data/cifar10-subset"
OUTPUT_DIR = "grader-output"
"""Below ROOT: the grader's own outputs (report.html, figures, the TA's log); Gradescope reads none of them."""
DEFAULT_TIME_LIMIT_S = 480.0
"""Under Gradescope's default timeout of 10 minutes, with room for starting Python and torch."""
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
TORCH = ("torch", "torchvision")
OUTPUT_NOTES_CAP = 20_000
"""Characters of notes put into the student's output text (the rest stays in extra_data)."""

TA_WILL_LOOK = "a TA will look at it."
NOT_FINISHED = ("Grading did not finish (the grader was stopped, for example by Gradescope's time or memory limit); "
                "your score is 0 for now and " + TA_WILL_LOOK)


# --------------------------------------------------------------------------- building the zip


def build_autograder(out: Path, time_limit_s: float = DEFAULT_TIME_LIMIT_S, visibility: str = "visible") -> Path:
    """Write the autograder zip at `out`: setup.sh, run_autograder, the grader's wheel, the reference and the data."""
    if visibility not in VISIBILITIES:
        raise ConfigError(f"--visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}.")
    for need in (PROJECT_DIR / "pyproject.toml", PROJECT_DIR / REFERENCE_NAME, SHIPPED_DATA):
        if not need.is_file():
            raise ConfigError(f"{need} is missing: `grader gradescope` builds from the grader's project folder.")
    torch_pins, pins = split_pins(project_pins())
    with tempfile.TemporaryDirectory(prefix="ex4-gradescope-") as tmp:
        wheel = build_wheel(Path(tmp))
        scripts = render_scripts(wheel.name, torch_pins, pins)
        config = {"time_limit_s": float(time_limit_s), "visibility": visibility}
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in scripts.items():
                _add_text(zf, name, text, 0o755)  # executable once unpacked: Gradescope runs both
            _add_text(zf, CONFIG_NAME, json.dumps(config, indent=2) + "\n", 0o644)
            zf.write(wheel, wheel.name)
            zf.write(PROJECT_DIR / REFERENCE_NAME, REFERENCE_NAME)
            zf.write(SHIPPED_DATA, DATA_NAME, compress_type=zipfile.ZIP_STORED)  # already xz
    return out


def _add_text(zf: zipfile.ZipFile, name: str, text: str, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)


def project_pins() -> list[str]:
    """The pinned requirements of pyproject.toml, in its order."""
    data = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(d) for d in data["project"]["dependencies"]]


def split_pins(pins: list[str]) -> tuple[list[str], list[str]]:
    """torch and torchvision (installed from the CPU index first), and the others."""
    def name(pin: str) -> str:
        return pin.split("==", 1)[0].strip().lower()

    return [p for p in pins if name(p) in TORCH], [p for p in pins if name(p) not in TORCH]


def build_wheel(tmp: Path) -> Path:
    """This project's wheel, built offline from a copy of its sources (so the checkout stays clean)."""
    src = tmp / "src"
    src.mkdir()
    shutil.copy2(PROJECT_DIR / "pyproject.toml", src / "pyproject.toml")
    shutil.copytree(PROJECT_DIR / "grader", src / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--wheel-dir", str(tmp / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300, check=False)
    wheels = sorted((tmp / "dist").glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise ConfigError("Building the grader's wheel failed (pip and setuptools must be installed in this Python): "
                          + (done.stderr or done.stdout).strip()[-2000:])
    return wheels[0]


def render_scripts(wheel: str, torch_pins: list[str], pins: list[str]) -> dict[str, str]:
    """setup.sh and run_autograder from the package's templates; every value put into bash is quoted."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("grader", "templates"), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["sh"] = lambda value: shlex.quote(str(value))
    fallback = json.dumps(fallback_results("The grader could not start on Gradescope; your score is 0 for now and "
                                           + TA_WILL_LOOK))
    return {
        "setup.sh": env.get_template("gradescope_setup.sh.j2").render(wheel=wheel, torch_pins=torch_pins, pins=pins),
        "run_autograder": env.get_template("gradescope_run_autograder.j2").render(fallback=fallback),
    }


# --------------------------------------------------------------------------- inside Gradescope


def prepare(root: Path) -> Path:
    """The CIFAR-10 subset unpacked under ROOT/source (once: setup.sh does it for the image); returns its root."""
    from grader.data import BATCHES, TEST_FILE, extract_plain

    target = root / "source" / DATA_DIR
    if (target / BATCHES / TEST_FILE).is_file():
        return target
    archive = root / "source" / DATA_NAME
    if not archive.is_file():
        raise ConfigError(f"{archive} is missing: the autograder zip ships it (rebuild it with `grader gradescope`).")
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
    try:
        with tarfile.open(archive) as tar:
            extract_plain(tar, tmp)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def autograde(root: Path) -> list[str]:
    """Grade ROOT/submission/ into ROOT/results/results.json, whatever happens; lines for Gradescope's stdout.

    That stdout is shown to instructors only (``stdout_visibility: hidden``): it holds the TA's log,
    which shows hidden check source.
    """
    results = root / "results" / "results.json"
    started = time.perf_counter()
    # Written first: if Gradescope kills the run (timeout, memory), this one is what it finds.
    write_results(results, fallback_results(NOT_FINISHED))
    interrupt_on_sigterm()  # a SIGTERM then removes the sandbox and temporary files on its way out
    try:
        return grade_upload(root, results, started)
    except KeyboardInterrupt:
        write_results(results, fallback_results(NOT_FINISHED, execution_time=time.perf_counter() - started))
        return ["Interrupted (SIGTERM or Ctrl-C); results.json says grading did not finish."]
    except BaseException as exc:  # noqa: BLE001 - a grader failure still leaves a results.json
        error = "".join(traceback.format_exception(exc))
        write_results(results, fallback_results("The grader failed on this submission; your score is 0 for now "
                                                "and " + TA_WILL_LOOK, error=error,
                                                execution_time=time.perf_counter() - started))
        return ["The grader failed; results.json says a TA will look.", error]


def grade_upload(root: Path, results: Path, started: float) -> list[str]:
    """Grade the upload with the settings the zip was built with and write Gradescope's results.json."""
    from grader.grading import grade_submission, rejected
    from grader.config import load_rubric
    from grader.report import RESULTS_NAME, summary_lines

    from grader.session import configure_process

    config = json.loads((root / "source" / CONFIG_NAME).read_text(encoding="utf-8"))
    visibility = str(config.get("visibility", "visible"))
    data = prepare(root)
    out = root / OUTPUT_DIR
    settings = DEFAULT.with_(out_dir=out, data_dir=data, device=Device.CPU, reference_path=root / "source" / REFERENCE_NAME,
                             time_limit_s=float(config.get("time_limit_s", DEFAULT_TIME_LIMIT_S)))
    configure_process(settings.threads)  # this is the entry point of Gradescope's grading process
    metadata = read_metadata(root / "submission_metadata.json")
    with tempfile.TemporaryDirectory(prefix="ex4-gradescope-upload-") as tmp:
        try:
            upload = collect_upload(root / "submission", Path(tmp) / UPLOAD_NAME, settings.zip_limits)
        except SubmissionRejected as exc:
            from grader.outfiles import write_outputs

            result = rejected(UPLOAD_NAME[:-4], exc.reason, exc.flag, load_rubric(settings.rubric_path))
            write_outputs(result, out)
        else:
            result = grade_submission(upload, settings)
    graded = json.loads((out / result.stem / RESULTS_NAME).read_text(encoding="utf-8"))
    final = gradescope_results(graded, metadata, visibility, time.perf_counter() - started)
    write_results(results, final)
    lines = [*summary_lines(result), f"Report and figures: {out / result.stem}"]
    log = out / ".logs" / f"{result.stem}.log"
    if log.is_file():
        lines += ["--- the TA's log ---", log.read_text(encoding="utf-8", errors="replace")]
    return lines


def collect_upload(submission: Path, dest: Path, limits: ZipLimits) -> Path:
    """The upload as one zip at `dest`: the single zip uploaded (any name), or the loose files packed.

    Raises SubmissionRejected when there is nothing to grade or too much. Only plain files are taken
    (no symlinks), stored uncompressed so that the intake's ratio check judges only real zips.
    """
    files: list[Path] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(submission) if submission.is_dir() else []:
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            files.append(path)
            total += path.stat().st_size
        if len(files) > limits.max_entries or total > limits.max_total_bytes:
            raise SubmissionRejected(f"The upload holds more than {limits.max_entries} files or "
                                     f"{limits.max_total_bytes >> 20} MiB; upload exercise4.py (or your notebook) "
                                     "and the PDF of it.", flag=Flag.ZIP_LIMITS)
    if not files:
        raise SubmissionRejected("Nothing was uploaded. Upload exercise4.py (or your notebook exercise4.ipynb) and the "
                                 "PDF of your code.", flag=Flag.NO_UPLOAD)
    if len(files) == 1 and files[0].name.lower().endswith(".zip"):
        shutil.copyfile(files[0], dest)
        return dest
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for path in files:
            zf.write(path, path.relative_to(submission).as_posix())
    return dest


def read_metadata(path: Path) -> dict[str, Any]:
    """Who submitted, from Gradescope's submission_metadata.json: submission id and users; empty when absent."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    users = [{k: str(u[k])[:200] for k in ("name", "email", "sid", "id") if u.get(k) is not None}
             for u in list(raw.get("users") or [])[:20] if isinstance(u, dict)]
    return {"submission_id": raw.get("id"), "users": users}


def gradescope_results(graded: dict[str, Any], metadata: dict[str, Any], visibility: str,
                       execution_time: float) -> dict[str, Any]:
    """Our results.json made Gradescope's: the student from Gradescope, the notes in the output, visibilities set."""
    extra = dict(graded.get("extra_data") or {})
    # The name the upload was graded under says nothing about the student: Gradescope's metadata does.
    extra["student"] = None
    extra["gradescope"] = metadata or None
    notes = "\n".join(f"- {n}" for n in extra.get("notes") or [])
    if len(notes) > OUTPUT_NOTES_CAP:
        notes = notes[:OUTPUT_NOTES_CAP] + "… (cut)"
    output = str(graded.get("output", "")) + (f"\n\n{notes}" if notes else "")
    tests = [{**t, "visibility": visibility} for t in graded.get("tests") or []]
    return {**graded, "output": output, "visibility": visibility, "stdout_visibility": "hidden",
            "execution_time": round(execution_time), "tests": tests, "extra_data": extra}


def fallback_results(output: str, error: str | None = None, execution_time: float = 0.0) -> dict[str, Any]:
    """A results.json for a run that produced no verdict: score 0 and a sentence for the student."""
    extra: dict[str, Any] = {"graded": False, "flags": [Flag.GRADER_ERROR.value]}
    if error is not None:
        extra["error"] = error[-20_000:]
    return {"score": 0.0, "output": output, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "execution_time": round(execution_time), "tests": [], "extra_data": extra}


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write results.json atomically (strict JSON)."""
    from grader.outfiles import write_atomic

    write_atomic(path, json.dumps(results, ensure_ascii=False, indent=2, allow_nan=False) + "\n")
