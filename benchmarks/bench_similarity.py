"""Speed and memory of the similarity report: N synthetic submissions (the independent corpus, randomly mutated).

    python benchmarks/bench_similarity.py [--n 500] [--workers 2]

Prints the seconds of a cold run (nothing cached), a warm rerun (everything cached) and a rerun after ten
submissions changed, and the peak memory of this process and of its worker processes.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
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
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.n} synthetic submissions: {cold.pairs} pairs reported")
    print(f"  cold (nothing cached, {cold.fingerprinted} fingerprinted): {t1 - t0:.1f} s")
    print(f"  warm (all cached, {warm.fingerprinted} fingerprinted):     {t2 - t1:.1f} s")
    print(f"  ten changed ({again.fingerprinted} fingerprinted):          {t4 - t3:.1f} s")
    print(f"  peak memory: this process {own:.0f} MiB, largest worker {children:.0f} MiB")


if __name__ == "__main__":
    main()
