"""Speed and memory of the similarity report: N synthetic submissions (the independent corpus, randomly mutated).

    python benchmarks/bench_similarity.py [--n 500] [--workers 2]

Prints the seconds of a cold run (nothing cached), a warm rerun with nothing changed and a rerun after ten
submissions changed, with the pairs each compared (or reused) and the pages it wrote, then the seconds of a
fresh compare of the changed batch (another OUT, fingerprints cached) and whether its outputs are the rerun's
byte for byte, and the peak memory of this process and of its worker processes.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.similarity.run import Subject, sha256_of, similarity_report  # noqa: E402
from grader.similarity.sources import python_of_notebook  # noqa: E402
from tests.similarity_corpus import as_notebook, corpus, mutate, write_zips  # noqa: E402


def synthetic(n: int, seed: int = 0) -> dict[str, tuple[str, bytes]]:
    """n distinct submissions: each a corpus solution with a few random lines changed; the notebooks and a third
    of the .py ones handed in as notebooks."""
    rng = random.Random(seed)
    base = [(name, file) for name, file in corpus().items()]
    out = {}
    for i in range(n):
        name, (fname, data) = base[i % len(base)]
        text = data.decode("utf-8") if fname.endswith(".py") else python_of_notebook(data)
        code = mutate(text, rng)
        notebook = fname.endswith(".ipynb") or rng.random() < 0.3
        out[f"Synth{i:04d}-{700000 + i}"] = (("exercise4.ipynb", as_notebook(code)) if notebook
                                             else ("exercise4.py", code.encode("utf-8")))
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = synthetic(args.n)
        zips = write_zips(files, Path(tmp) / "zips")
        subjects = [Subject(name, path, sha256_of(path)) for name, path in sorted(zips.items())]
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        cold = similarity_report(out, subjects, workers=args.workers)
        t1 = time.perf_counter()
        warm = similarity_report(out, subjects, workers=args.workers)
        t2 = time.perf_counter()
        changed = list(subjects)
        rng = random.Random(1)
        for k in range(10):
            s = changed[k * 7]
            fname, data = files[s.name]
            text = mutate(data.decode("utf-8"), rng) if fname.endswith(".py") else data.decode("utf-8") + " "  # noqa
            path = write_zips({s.name: (fname, text.encode("utf-8"))}, Path(tmp) / "changed")[s.name]
            changed[k * 7] = Subject(s.name, path, sha256_of(path))
        t3 = time.perf_counter()
        again = similarity_report(out, changed, workers=args.workers)
        t4 = time.perf_counter()
        fresh = Path(tmp) / "fresh"
        shutil.copytree(out / ".cache" / "similarity", fresh / ".cache" / "similarity",
                        ignore=shutil.ignore_patterns("compared.json"))
        t5 = time.perf_counter()
        full = similarity_report(fresh, changed, workers=args.workers)
        t6 = time.perf_counter()
        same = _files(out / "similarity") == _files(fresh / "similarity")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.n} synthetic submissions: {cold.pairs} pairs reported")
    for label, r, seconds in (("cold (nothing cached)", cold, t1 - t0), ("warm, nothing changed", warm, t2 - t1),
                              ("ten changed", again, t4 - t3), ("ten changed, compared afresh", full, t6 - t5)):
        print(f"  {label:29} {seconds:5.1f} s: {r.fingerprinted} fingerprinted, {r.compared_pairs} pairs compared, "
              f"{r.reused_pairs} reused, {r.pages_written} pages written")
    print(f"  the rerun's outputs are the fresh compare's byte for byte: {'yes' if same else 'NO'}")
    print(f"  peak memory: this process {own:.0f} MiB, largest worker {children:.0f} MiB")


if __name__ == "__main__":
    main()
