"""The `grader` command: parse, call one library function, show the result. Nothing else imports this."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.batch import DEFAULT_TIMEOUT_S
from grader.config import DEFAULT, Device, Settings
from grader.errors import ExitCode, GraderError, exit_code, interrupt_on_sigterm
from grader.gradescope import DEFAULT_TIME_LIMIT_S, VISIBILITIES
from grader.moodle.feedback import DEFAULT_MAX_ZIP_MB


def settings_from(out: Path, data: Path | None, device: str, seed: int | None, only: tuple[str, ...] = ()) -> Settings:
    return DEFAULT.with_(out_dir=out, data_dir=data, device=device, seed=seed, only=only or None)


common = [
    click.option("--out", type=click.Path(path_type=Path), default=DEFAULT.out_dir, show_default=True,
                 help="Folder for each submission's results.json and report.html."),
    click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
                 help="A CIFAR-10 folder holding cifar-10-batches-py (default: the shipped real subset)."),
    click.option("--device", type=click.Choice([d.value for d in Device]), default=Device(DEFAULT.device).value,
                 show_default=True, help="Where training and Task 4 checks run."),
    click.option("--seed", type=int, default=None, help="Seed of the randomized inputs (default: a fresh one, recorded)."),
]


COMPARE_WITH_HELP = ("A folder of earlier terms' zips or known public solutions (.zip, .py, .ipynb), compared against "
                     "this term's submissions, not among themselves (repeatable).")


def with_common(func):  # type: ignore[no-untyped-def]
    for option in reversed(common):
        func = option(func)
    return func


@click.group()
@click.version_option(package_name="ex4-grader")
def main() -> None:
    """Grade Exercise 4 (Convolutional Neural Networks) submissions named Surname-123456.zip."""


@main.command()
@click.argument("zips", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@with_common
@click.option("--only", multiple=True, metavar="CHECK", help="Run only this check (repeatable), e.g. test_train_counts_images.")
@click.option("--time-limit", "time_limit_s", type=click.FloatRange(min=1), default=DEFAULT.time_limit_s,
              show_default=True, help="Seconds grading one zip may take; checks not started by then are not run.")
def run(zips: tuple[Path, ...], out: Path, data: Path | None, device: str, seed: int | None, only: tuple[str, ...],
        time_limit_s: float) -> None:
    """Grade one or more submission zips, one after the other."""
    from grader.grading import grade_submission
    from grader.report import summary_lines
    from grader.session import configure_process

    settings = _guard(lambda: settings_from(out, data, device, seed, only).with_(time_limit_s=time_limit_s))
    if only:
        from grader.config import load_rubric

        _guard(lambda: load_rubric(settings.rubric_path).only(only))
    interrupt_on_sigterm()
    configure_process(settings.threads)
    for zip_path in zips:
        try:
            result = _guard(lambda: grade_submission(zip_path, settings))
        except KeyboardInterrupt:
            click.echo(f"Interrupted while grading {zip_path.name}; it has no verdict.", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        for line in summary_lines(result):
            click.echo(line)
        click.echo(f"Report: {settings.out_dir / result.stem / 'report.html'}\n")


@main.command()
@with_common
def selftest(out: Path, data: Path | None, device: str, seed: int | None) -> None:
    """Grade the reference (must get every automatic point) and the template (must get none)."""
    from grader.selftest import run_selftest
    from grader.session import configure_process

    settings = _guard(lambda: settings_from(out, data, device, seed))
    configure_process(settings.threads)
    report = _guard(lambda: run_selftest(settings))
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        raise click.exceptions.Exit(1)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("examples"), show_default=True)
def example(out: Path) -> None:
    """Build the example submission Mustermann-123456.zip from the reference solution."""
    from grader.selftest import build_reference_zip

    path = _guard(lambda: build_reference_zip(out))
    click.echo(str(path))


@main.command()
@click.option("--check", is_flag=True, help="Only say whether student_template/ is in sync with solutions/.")
def template(check: bool) -> None:
    """Generate student_template/ from solutions/ (markers become stubs)."""
    from grader.config import PROJECT_DIR
    from grader.template import build_template, template_diff

    solutions, dest = PROJECT_DIR / "solutions", PROJECT_DIR / "student_template"
    if check:
        stale = _guard(lambda: template_diff(solutions, dest))
        if stale:
            click.echo("student_template/ is out of sync with solutions/: " + ", ".join(stale))
            raise click.exceptions.Exit(1)
        click.echo("student_template/ is in sync with solutions/.")
        return
    _guard(lambda: build_template(solutions, dest))
    click.echo(f"Wrote {dest}")


@main.command()
def data() -> None:
    """Unpack the shipped CIFAR-10 subset (once) and print its folder."""
    from grader.data import shipped_root

    click.echo(str(_guard(shipped_root)))


@main.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("autograder.zip"),
              show_default=True, help="Where to write the zip to upload as the assignment's autograder.")
@click.option("--time-limit", "time_limit_s", type=click.FloatRange(min=1), default=DEFAULT_TIME_LIMIT_S,
              show_default=True, help="Seconds grading one upload may take; keep it below Gradescope's timeout.")
@click.option("--visibility", type=click.Choice(VISIBILITIES), default="visible", show_default=True,
              help="When students see their results (Gradescope's visibility setting).")
def gradescope(out: Path, time_limit_s: float, visibility: str) -> None:
    """Build the Gradescope autograder zip: setup.sh, run_autograder, the pinned grader, the reference and the data."""
    from grader.gradescope import build_autograder

    click.echo(str(_guard(lambda: build_autograder(out, time_limit_s, visibility))))


@main.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@with_common
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Submissions graded at once (default: the machine's cores / 2).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Seconds one submission's grading may take before it is stopped.")
@click.option("--force", is_flag=True, help="Regrade everything, ignoring cached results.")
@click.option("--worksheet", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Moodle's grading worksheet (CSV) to fill in with grades and feedback.")
@click.option("--scale/--no-scale", default=None,
              help="When the worksheet's maximum grade differs from the rubric's total: map the points onto it "
                   "(--scale) or write them as they are (--no-scale; Moodle skips grades above its maximum). "
                   "Without either, such a worksheet stops the batch before grading.")
@click.option("--max-zip-mb", type=click.FloatRange(min=1), default=DEFAULT_MAX_ZIP_MB, show_default=True,
              help="Largest feedback zip Moodle accepts (its \"Maximum uploaded file size\"); bigger ones are split "
                   "into parts that each import on their own.")
@click.option("--overrides", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Manual points file (default: OUT/overrides.csv, created when missing).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default=None,
              help="Where submissions are graded: this machine's processes (default), or Dask tasks "
                   "(a LocalCluster of --workers processes unless --scheduler is given).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Grade on the Dask cluster of this scheduler, e.g. tcp://HOST:8786 (implies --executor dask).")
@click.option("--similarity/--no-similarity", default=True, show_default=True,
              help="Compare the submissions with each other into OUT/similarity/ (similar; look at both).")
@click.option("--compare-with", "compare_with", multiple=True, type=click.Path(path_type=Path, exists=True),
              help=COMPARE_WITH_HELP)
def batch(source: Path, out: Path, data: Path | None, device: str, seed: int | None, workers: int | None,
          timeout_s: float, force: bool, worksheet: Path | None, scale: bool | None, max_zip_mb: float,
          overrides: Path | None, executor: str | None,
          scheduler: str | None, similarity: bool = True, compare_with: tuple[Path, ...] = ()) -> None:
    """Grade a folder of zips or Moodle's "Download all submissions" (zip or folder); resumable.

    Each submission is graded in its own process; results are cached in OUT/.cache, so running
    the same command again (after Ctrl-C, a crash, new overrides) grades only what is missing.
    Without --seed each submission's seed is derived from a batch seed and its zip's hash.
    With --scheduler each submission is a task on that Dask cluster; every worker needs the same
    grader installed and, with --data, the data set at that path.
    """
    from tqdm import tqdm

    from grader.batch import Progress, run_batch

    if scheduler and executor == "local":
        raise click.UsageError("--scheduler needs --executor dask (or no --executor).")
    if scheduler and workers is not None:
        raise click.UsageError("--workers sizes this machine's pool or LocalCluster; with --scheduler the cluster's "
                               "workers grade.")
    remote = None
    if scheduler or executor == "dask":
        from grader.batch.dask import DaskExecutor

        remote = DaskExecutor(scheduler, n_workers=workers)

    bar: list[tqdm] = []

    def progress(p: Progress) -> None:
        if not bar:
            bar.append(tqdm(total=p.total, unit="submission", file=sys.stderr, dynamic_ncols=True,
                            desc=f"grading ({p.cached} cached)"))
        else:
            bar[0].update(1)
            bar[0].set_postfix_str(f"{p.label}: {p.outcome}", refresh=False)

    settings = _guard(lambda: settings_from(out, data, device, seed))
    interrupt_on_sigterm()
    try:
        summary = _guard(lambda: run_batch(source, settings, workers=workers, timeout_s=timeout_s, force=force,
                                           worksheet=worksheet, scale=scale, max_zip_mb=max_zip_mb,
                                           overrides=overrides, progress=progress,
                                           executor=remote, similarity=similarity, compare_with=compare_with))
    except KeyboardInterrupt:
        if bar:
            bar[0].close()
        click.echo("Interrupted; what was graded is kept. Run the same command again to go on.", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    if bar:
        bar[0].close()
    for line in summary.lines():
        click.echo(line)


@main.command()
@click.argument("out", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--grader-name", default=None, help="Name recorded with each decision (default: your login).")
@click.option("--overrides", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Manual points file (default: OUT/overrides.csv).")
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
def review(out: Path, port: int | None, grader_name: str | None, overrides: Path | None, no_browser: bool) -> None:
    """Grade a batch's written answers by question in the browser (127.0.0.1 only, a token in the URL)."""
    from grader.review import make_server
    from grader.review.app import default_grader_name

    server, served = _guard(lambda: make_server(out, grader_name or default_grader_name(), port, overrides))
    click.echo(f"Reviewing {out}: {served.url}")
    click.echo("Every decision is written to the overrides file at once; Ctrl-C stops the app.")
    if not no_browser:
        import webbrowser

        webbrowser.open(served.url)
    try:
        server.serve_forever()  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        click.echo("Stopped; the decisions are in the overrides file. Run `grader batch` to merge them.")


@main.command()
@click.argument("out", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--compare-with", "compare_with", multiple=True, type=click.Path(path_type=Path, exists=True),
              help=COMPARE_WITH_HELP)
def similarity(out: Path, compare_with: tuple[Path, ...]) -> None:
    """Compare the submissions of a finished batch in OUT with each other: OUT/similarity/ and index.html's column.

    Pairs are ranked by the code they share beyond the template and the sheet, and by shared written
    answers; each is evidence to look at (similar; look at both), never a verdict.
    """
    from grader.batch.run import similarity_of_batch

    summary = _guard(lambda: similarity_of_batch(out, DEFAULT.with_(out_dir=out), compare_with))
    for line in summary.lines():
        click.echo(line)


def _guard(action):  # type: ignore[no-untyped-def]
    """Run a library call; a GraderError becomes its message and exit code, nothing else is caught."""
    try:
        return action()
    except GraderError as exc:
        click.echo(f"grader: {exc.message}", err=True)
        sys.exit(exit_code(exc))
