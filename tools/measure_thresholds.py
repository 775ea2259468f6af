"""Measure the test accuracy of every model the solution trains, across seeds.

    python tools/measure_thresholds.py --seeds 0 1 2 3 4 [--out docs/thresholds.json]

Executes the built solution notebook (``autograder/lab1.ipynb``) once per seed, with its
``SEED = 0`` line set to the seed, and at the end computes each model's accuracy with the same
function the hidden tests use (``checks.accuracy_of`` on the checks' own copy of the data).
Writes the raw figures to docs/thresholds.json and the table of docs/thresholds.md (between its
``<!-- table -->`` markers) from them and :data:`ds201_lab1.spec.ACCURACY_THRESHOLDS`; ``--doc-only``
rewrites the table from the JSON without executing anything (after a threshold change in spec).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from ds201_lab1 import build  # noqa: E402
from ds201_lab1.spec import ACCURACY_THRESHOLDS, MODELS  # noqa: E402

PROBE = """
import json as _json
from ds201_lab1 import checks as _c, spec as _spec
_acc = {}
for _key, (_var, _variant) in _spec.MODELS.items():
    _acc[_key] = _c.accuracy_of(globals()[_var], *_c.evaluation_data(_variant))
print(_json.dumps(_acc))
"""


def run_seed(nb_path: Path, seed: int) -> dict:
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(r"(?m)^SEED = \d+$", f"SEED = {seed}", cell.source)
    start = time.perf_counter()
    acc = build.run_notebook(nb, nb_path.parent / "tests", PROBE, timeout=3600)
    return {"seed": seed, "seconds": round(time.perf_counter() - start, 1), "accuracy": acc}


DOC = ROOT / "docs" / "thresholds.md"
MARK = "<!-- table -->"


def table(runs: list[dict]) -> str:
    """The Markdown table of the measured spread against the thresholds of the spec."""
    seeds = " | ".join(f"seed {r['seed']}" for r in runs)
    lines = [f"| model | {seeds} | min | max | threshold | margin below min |", "|---" * (len(runs) + 5) + "|"]
    for key in MODELS:
        accs = [r["accuracy"][key] for r in runs]
        thr = ACCURACY_THRESHOLDS[key]
        cells = " | ".join(f"{a:.4f}" for a in accs)
        lines.append(f"| {key} | {cells} | {min(accs):.4f} | {max(accs):.4f} | {thr} | {min(accs) - thr:.4f} |")
    return "\n".join(lines)


def write_doc(runs: list[dict], doc: Path = DOC) -> None:
    head, _, rest = doc.read_text().partition(MARK)
    _, _, tail = rest.partition(MARK)
    doc.write_text(f"{head}{MARK}\n{table(runs)}\n{MARK}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--notebook", type=Path, default=ROOT / "autograder" / "lab1.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "thresholds.json")
    parser.add_argument("--doc-only", action="store_true", help="rewrite the doc's table from --out; run nothing")
    args = parser.parse_args()
    if args.doc_only:
        runs = json.loads(args.out.read_text())
    else:
        runs = []
        for seed in args.seeds:
            runs.append(run_seed(args.notebook, seed))
            print(json.dumps(runs[-1]), flush=True)
        args.out.write_text(json.dumps(runs, indent=2) + "\n")
    write_doc(runs)
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
