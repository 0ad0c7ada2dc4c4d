"""The `grader` command: parse, call one library function, show the result. Nothing else imports this."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.config import DEFAULT, Settings
from grader.errors import GraderError


def settings_from(out: Path, data: Path | None, device: str, seed: int | None) -> Settings:
    return DEFAULT.with_(out_dir=out, data_dir=data, device=device, seed=seed)


common = [
    click.option("--out", type=click.Path(path_type=Path), default=DEFAULT.out_dir, show_default=True,
                 help="Folder for each submission's results.json and report.html."),
    click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
                 help="A CIFAR-10 folder holding cifar-10-batches-py (default: the shipped real subset)."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=DEFAULT.device, show_default=True,
                 help="Where training and Task 4 checks run."),
    click.option("--seed", type=int, default=None, help="Seed of the randomized inputs (default: a fresh one, recorded)."),
]


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
def run(zips: tuple[Path, ...], out: Path, data: Path | None, device: str, seed: int | None) -> None:
    """Grade one or more submission zips, one after the other."""
    from grader.grading import grade_submission
    from grader.report import summary_lines

    settings = settings_from(out, data, device, seed)
    for zip_path in zips:
        result = _guard(lambda: grade_submission(zip_path, settings))
        for line in summary_lines(result):
            click.echo(line)
        click.echo(f"Report: {settings.out_dir / result.stem / 'report.html'}\n")


@main.command()
@with_common
def selftest(out: Path, data: Path | None, device: str, seed: int | None) -> None:
    """Grade the reference (must get every automatic point) and the template (must get none)."""
    from grader.selftest import run_selftest

    report = _guard(lambda: run_selftest(settings_from(out, data, device, seed)))
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


def _guard(action):  # type: ignore[no-untyped-def]
    """Run a library call; a GraderError becomes its message and exit code, nothing else is caught."""
    try:
        return action()
    except GraderError as exc:
        click.echo(f"grader: {exc.message}", err=True)
        sys.exit(exc.exit_code)
