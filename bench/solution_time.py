"""Time the solution notebook: end to end, and the training cell of every exercise.

    python bench/solution_time.py [--runs 3]

Executes ``autograder/lab1.ipynb`` as ``make assignment`` does (scratch folder, export cell
skipped) and reads nbclient's per-cell timings. Prints one row per timed part with the median and
the spread over the runs. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from ds201_lab1 import build  # noqa: E402

# part -> a string that only that part's training cell contains
PARTS = {
    "base model fit (section 4)": "history = model.fit(",
    "ex1 (model_1)": "model_1.fit(",
    "ex2 (model_2)": "model_2.fit(",
    "ex3 (model_2_new)": "model_2_new.fit(",
    "ex5 (model_cifar)": "model_cifar.fit(",
    "ex6 (model_3)": "model_3.fit(",
}


def _seconds(cell) -> float:
    ex = cell.metadata.get("execution", {})
    start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
    if not (start and end):
        return float("nan")
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def one_run() -> dict[str, float]:
    nb = nbformat.read(ROOT / "autograder" / "lab1.ipynb", as_version=4)
    start = time.perf_counter()
    build.run_notebook(nb, ROOT / "autograder" / "tests", "print('{}')")
    total = time.perf_counter() - start
    out = {
        part: sum(_seconds(c) for c in nb.cells if c.cell_type == "code" and key in c.source)
        for part, key in PARTS.items()
    }
    out["whole notebook (kernel start to end)"] = total
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    print(
        f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"| part | median (s) | min–max (s) over {args.runs} runs |")
    print("|---|---:|---:|")
    for part in runs[0]:
        values = [r[part] for r in runs]
        print(f"| {part} | {statistics.median(values):.1f} | {min(values):.1f}–{max(values):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
