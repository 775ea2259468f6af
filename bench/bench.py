"""Grading speed on this machine (issue 6): every figure, printed as one Markdown table.

    .venv/bin/python bench/bench.py [--runs 3] [--batch-runs 3] [--jobs 2] [--only 1,2,...] [--make N] [--quick]
    make bench BENCH_ARGS="--only 1,2"

1. The solution notebook (``autograder/lab1.ipynb``) executed bare with nbclient: kernel start to
   shutdown, and each training cell's ``fit`` time (nbclient's per-cell timestamps).
2. The class grader (``python -m ds201_lab1.grade``, fresh OUT, ``-j 1``) on that notebook alone:
   wall time, and its ratio to the bare run of (1) made just before it.
3. Re-grading 20 already-executed submissions (4 byte-distinct copies of the solution × 5) after a
   threshold change, from a hard-linked copy of their execution cache: wall time / 20, and where it
   went (one verification, the first answer that waits for the verifiers' start, the command). Then
   its floor, what no re-grade that runs the public tests avoids, measured alone in a fresh process
   on one cached solution (``FLOOR_SCRIPT``): the wall time of ``import keras``, and the CPU time of
   rebuilding one submission's models and of their public tests' forward passes (each model of
   ``spec.MODELS`` on its 10,000 test images), shared by the cores.
4. The 4 distinct copies graded with ``-j 1`` and with ``-j JOBS`` (fresh OUT each): wall times,
   speed-up, and each submission's time within the batch (grading-log.jsonl).
5. ``make assignment`` / ``make test`` wall times, as recorded in ``.bench/history.jsonl`` by
   ``build.main`` and ``bench/pytest_timing.py`` (last 5 successful runs); ``--make N`` runs each N times first.
6. The peak resident memory of one grading worker (``execution.json`` meta.peak_rss of the runs of 2–4).
7. Grading on a Dask cluster (issue 14), side by side with the local path on the same machine: a
   batch of CLUSTER_BATCH byte-distinct tiny notebooks (no data, no training: the per-submission
   overhead shows) graded with local ``-j 2`` and with ``--scheduler`` on a ``dask scheduler`` and
   2 ``dask worker --nthreads 1 --resources grading=1`` processes, all three with the README's
   ``DASK_CONFIG=dask.yaml`` (restarted before each cluster
   run, so both paths start their verifiers cold), alternately, ``--batch-runs`` times: walls, the
   cluster's overhead per submission ((cluster − local) / CLUSTER_BATCH) and the throughput ratio.

Each figure is the median over the runs with min–max and count. ``--quick`` is a smoke test of the
harness (the blank student notebook, 1 epoch, one run of everything: a few minutes); its figures
are not the targets. Timings are printed, never asserted. ``bench/RESULTS.md`` explains every row.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "autograder" / "lab1.ipynb"
BLANK = ROOT / "student" / "lab1.ipynb"
PUBLIC_TESTS = ROOT / "student" / "tests"
ZIP = ROOT / "autograder" / "lab1-autograder.zip"
HISTORY = ROOT / ".bench" / "history.jsonl"
GRADE = [sys.executable, "-m", "ds201_lab1.grade"]
GRADE_TIMEOUT = "1800"  # per submission; the solution takes about 3 minutes with -j 2 here
VARIANTS, COPIES = 4, 5  # item 3 re-grades VARIANTS × COPIES submissions; item 4 grades the VARIANTS
CLUSTER_BATCH = 8  # item 7's tiny notebooks
TARGETS = {  # row -> (shown, met when the median ...)
    "cluster overhead": ("≤ 0.5 s", lambda m: m <= 0.5),
    "cluster throughput": ("≥ 0.90×", lambda m: m >= 0.90),
    "ratio": ("≤ 1.05", lambda m: m <= 1.05),
    "regrade": ("≤ 0.3 s", lambda m: m <= 0.3),
    "speedup": ("≥ 1.3×", lambda m: m >= 1.3),
    "make assignment": ("≤ 8 min", lambda m: m <= 8),
    "make test": ("≤ 25 min", lambda m: m <= 25),
}
# part -> a string that only that part's training cell contains
PARTS = {
    "base model fit (section 4)": "history = model.fit(",
    "ex1 (model_1)": "model_1.fit(",
    "ex2 (model_2)": "model_2.fit(",
    "ex3 (model_2_new)": "model_2_new.fit(",
    "ex5 (model_cifar)": "model_cifar.fit(",
    "ex6 (model_3)": "model_3.fit(",
}
notes: list[str] = []  # printed under the table
problems: list[str] = []  # a figure that does not mean what it says (printed under the table)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The notebooks
# ---------------------------------------------------------------------------------------------
def the_notebook(quick: bool) -> nbformat.NotebookNode:
    """The solution; in --quick, the blank student notebook with its one training cell at 1 epoch."""
    if not quick:
        return nbformat.read(SOLUTION, as_version=4)
    nb = nbformat.read(BLANK, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("epochs=10", "epochs=1")
    return nb


def write_variants(nb: nbformat.NotebookNode, folder: Path, copies: int = 1) -> None:
    """VARIANTS byte-distinct copies of ``nb`` (a different trailing markdown cell), each ``copies`` times."""
    folder.mkdir(parents=True)
    for k in range(VARIANTS):
        variant = copy.deepcopy(nb)
        cell = nbformat.v4.new_markdown_cell(f"(bench copy {k})")
        cell.id = f"bench-copy-{k}"
        variant.cells.append(cell)
        for c in range(copies):
            nbformat.write(variant, folder / f"s{k}_{c}.ipynb")


# ---------------------------------------------------------------------------------------------
# Item 1: the bare execution
# ---------------------------------------------------------------------------------------------
def _seconds(cell) -> float:
    ex = cell.metadata.get("execution", {})
    start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
    if not (start and end):
        return math.nan
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def run_bare(nb: nbformat.NotebookNode) -> dict[str, float]:
    """Execute ``nb`` as a student's Restart & Run All would, minus the export cell; return the timings.

    Not ``build.run_notebook``: that copies the autograder's tests, so every ``grader.check`` would
    also run the hidden checks. Here the scratch folder holds the notebook and ``student/tests``.
    """
    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    with tempfile.TemporaryDirectory(prefix="ds201-bench-bare-", ignore_cleanup_errors=True) as tmp:
        nbformat.write(nb, Path(tmp) / "lab1.ipynb")  # otter.Notebook reads it
        shutil.copytree(PUBLIC_TESTS, Path(tmp) / "tests")
        client = NotebookClient(
            nb, timeout=1800, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": tmp}}
        )
        start = time.monotonic()
        with client.setup_kernel(env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and "grader.export(" not in cell.source:
                    client.execute_cell(cell, index)
        total = time.monotonic() - start
    code = [c for c in nb.cells if c.cell_type == "code"]
    times = {"whole notebook": total}
    for part, key in PARTS.items():
        cells = [c for c in code if key in c.source]
        times[part] = sum(_seconds(c) for c in cells) if cells else math.nan
    times["errors"] = sum(o.get("output_type") == "error" for c in code for o in c.outputs)
    return times


# ---------------------------------------------------------------------------------------------
# The grader, through its command line
# ---------------------------------------------------------------------------------------------
sandbox = ""  # what the grader says about its sandbox


def grade(subs: Path, out: Path, jobs: int, *extra: str) -> float:
    """Run the grader; return its wall time in seconds."""
    global sandbox
    cmd = [*GRADE, str(subs), str(out), "-j", str(jobs), "--timeout", GRADE_TIMEOUT, *extra]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"the grader failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-3000:]}")
    found = re.search(r"^sandbox: (.*)$", proc.stderr, re.M)  # printed before the first execution
    sandbox = sandbox or (found.group(1) if found else "")
    return seconds


def last_run(out: Path) -> list[dict]:
    """The entries of grading-log.jsonl written by the last run."""
    entries = [json.loads(line) for line in (out / "grading-log.jsonl").read_text().splitlines() if line.strip()]
    return [e for e in entries if e["run"] == entries[-1]["run"]]


def peaks(out: Path) -> list[float]:
    """meta.peak_rss (GiB) of every execution in OUT's cache."""
    found = []
    for path in (out / ".cache").glob("*/execution.json"):
        rss = json.loads(path.read_text()).get("meta", {}).get("peak_rss")
        if rss:
            found.append(rss / 2**30)
    return found


def check_scores(out: Path, full: bool, what: str) -> None:
    """Every submission graded ``ok`` (and, unless --quick, with full marks); otherwise say so."""
    rows = list(csv.DictReader((out / "final_grades.csv").open()))
    possible = next(r for r in rows if r["file"] == "points-per-question")["total_points_earned"]
    for r in rows:
        if r["file"] == "points-per-question":
            continue
        if r["grading_status"] != "ok" or (full and float(r["total_points_earned"]) != float(possible)):
            problems.append(f"{what}: {r['file']} graded {r['total_points_earned']}/{possible} ({r['grading_status']})")


# ---------------------------------------------------------------------------------------------
# The items
# ---------------------------------------------------------------------------------------------
def items_1_2(nb, runs: int, with_grader: bool, scratch: Path, quick: bool, memory: list[float]) -> tuple:
    """Bare runs, each followed (for item 2) by one grader run of the same notebook."""
    bare, graded, ratios, breakdown = [], [], [], []
    subs = scratch / "one"
    subs.mkdir()
    nbformat.write(nb, subs / "lab1.ipynb")
    for r in range(runs):
        log(f"item 1: bare execution, run {r + 1}/{runs}")
        bare.append(run_bare(nb))
        if bare[-1]["errors"] and not quick:
            problems.append(f"item 1: the bare run {r + 1} had {bare[-1]['errors']} cell error(s)")
        if with_grader:
            log(f"item 2: the grader on the same notebook, run {r + 1}/{runs}")
            out = scratch / f"one-out-{r}"
            graded.append(grade(subs, out, 1))
            ratios.append(graded[-1] / bare[-1]["whole notebook"])
            breakdown.append(where_the_time_goes(out, graded[-1]))
            check_scores(out, not quick, "item 2")
            memory += peaks(out)
            shutil.rmtree(out, ignore_errors=True)
    return bare, graded, ratios, breakdown


PHASES = (  # item 2's breakdown: phase -> what it is
    ("kernel start", "the sandboxed worker's start until the kernel answers"),
    ("student cells", "the submission's own cells (compare with item 1's whole notebook)"),
    ("grader cells", "otter's set-up and the checks that save the answers"),
    ("sandbox rest", "the rest of the worker: sandbox set-up, imports, kernel shutdown"),
    ("scratch and cache", "the scratch folder before, the cache commit after"),
    ("verify", "the trusted verification"),
    ("start-up and reports", "the command's start-up, the plan, the reports (wall minus the submission's time)"),
)


def where_the_time_goes(out: Path, wall: float) -> dict[str, float]:
    """Item 2's grader run split into PHASES, from the seconds the grader logs per submission."""
    (entry,) = last_run(out)
    sec = entry.get("seconds", {})
    parts = {p: sec.get(p, math.nan) for p in ("kernel start", "student cells", "grader cells", "verify")}
    parts["sandbox rest"] = sec.get("worker", math.nan) - parts["kernel start"] - parts["student cells"]
    parts["sandbox rest"] -= parts["grader cells"]
    parts["scratch and cache"] = sec.get("prepare", math.nan) + sec.get("commit", math.nan)
    parts["start-up and reports"] = wall - entry["elapsed"]
    return parts


def item_4(subs: Path, runs: int, jobs: int, scratch: Path, quick: bool, memory: list[float]) -> tuple:
    """Batches of the VARIANTS at -j 1 and -j JOBS; the first -j 1 OUT is kept (item 3's cache)."""
    walls: dict[int, list[float]] = {1: [], jobs: []}
    each: dict[int, list[float]] = {1: [], jobs: []}
    kept = None
    for r in range(runs):
        for j in (1, jobs):
            log(f"item 4: batch of {VARIANTS} at -j {j}, run {r + 1}/{runs}")
            out = scratch / f"batch-j{j}-{r}"
            walls[j].append(grade(subs, out, j))
            each[j] += [e["elapsed"] for e in last_run(out)]
            check_scores(out, not quick, f"item 4 (-j {j})")
            memory += peaks(out)
            if kept is None and j == 1:
                kept = out
            else:
                shutil.rmtree(out, ignore_errors=True)
    return walls, each, kept


def stricter_autograder(scratch: Path) -> Path:
    """The autograder zip extracted, with ACCURACY_THRESHOLDS['base'] raised to 0.9999."""
    folder = scratch / "autograder-stricter"
    with zipfile.ZipFile(ZIP) as zf:
        zf.extractall(folder)
    spec_py = folder / "files" / "ds201_lab1" / "spec.py"
    text, n = re.subn(r'("base":\s*)[0-9.]+', r"\g<1>0.9999", spec_py.read_text())
    if n != 1:
        raise SystemExit(f"ACCURACY_THRESHOLDS['base'] not found in {ZIP}'s spec.py")
    spec_py.write_text(text)
    return folder


def item_3(executed: Path, subs: Path, runs: int, jobs: int, scratch: Path) -> tuple[list[float], dict]:
    """Re-grade the 20 from a hard-linked copy of ``executed``'s cache after a threshold change; the
    walls, and where the time went (REGRADE_PARTS) run by run."""
    autograder = stricter_autograder(scratch)
    walls, parts = [], {p: [] for p, _ in REGRADE_PARTS}
    for r in range(runs):
        log(f"item 3: re-grading {VARIANTS * COPIES} after a threshold change, run {r + 1}/{runs}")
        out = scratch / f"regrade-{r}"
        shutil.copytree(executed / ".cache", out / ".cache", copy_function=os.link)
        walls.append(grade(subs, out, jobs, "--autograder", str(autograder)))
        entries = last_run(out)
        verify = [e["seconds"].get("verify", math.nan) for e in entries]
        first, rest = verify[:jobs], verify[jobs:]  # the first answers wait for the verifiers' start
        parts["verification of one submission (after the first)"].append(statistics.median(rest or first))
        parts["first answer (the verifiers' start-up and warm-up)"].append(max(first))
        parts["command (start-up, plan, reports: wall − the submissions' time)"].append(
            walls[-1] - max(first) - sum(rest) / jobs
        )
        again = [e["file"] for e in entries if e["how"] == "executed"]
        if again:
            problems.append(f"item 3: run {r + 1} executed {len(again)} submission(s) again, not from the cache")
        shutil.rmtree(out, ignore_errors=True)
    return walls, parts


# Run in a fresh process by item_3's floor: what no verifier of a re-grade avoids, measured alone on
# one cached full solution. The wall time of the verifier's import of Keras (its extras hidden, as
# verify.warm_up does); then, in CPU seconds (all threads), the rebuild of each model of
# spec.MODELS (as the verifier rebuilds it: the tests take the models) and the forward pass that
# the public tests make with the models they call (argv[2:], e.g. ``model_1(X_test,
# training=False)`` on the 10,000 test images; best of 3). The floor per submission, import / 20 + CPU seconds / cores, is what the
# re-grade would cost if everything else were free and the cores were shared perfectly.
FLOOR_SCRIPT = """
import json, sys, time
from pathlib import Path
from ds201_lab1.grade import KERAS_EXTRAS, hidden
start = time.perf_counter()
with hidden(KERAS_EXTRAS):
    import keras
imported = time.perf_counter() - start
import numpy as np
from ds201_lab1 import checks, spec
from ds201_lab1.grade import rebuild
artifacts = Path(sys.argv[1])
dirs = {}
for manifest in artifacts.glob("*/manifest.json"):
    for name, value in json.loads(manifest.read_text())["values"].items():
        if value.get("t") == "keras_model":
            dirs[name] = artifacts / "models" / value["dir"]
missing = [name for name, _ in spec.MODELS.values() if name not in dirs]
if missing:  # e.g. --quick, whose blank notebook trains no model
    sys.exit(f"no saved model {', '.join(missing)} in {artifacts}")
start = time.process_time()  # CPU seconds of every thread of this process
models = {name: rebuild.rebuild_model(dirs[name]) for name, _ in spec.MODELS.values()}
rebuilt = time.process_time() - start
called = [(models[name], checks.evaluation_data(variant)[0]) for name, variant in spec.MODELS.values()
          if name in sys.argv[2:]]
passes = []
for _ in range(3):
    start = time.process_time()
    for model, x in called:
        np.argmax(model(x, training=False), axis=-1)
    passes.append(time.process_time() - start)
print(json.dumps({"import": imported, "rebuild": rebuilt, "forward": min(passes)}))
"""


def called_by_public_tests() -> list[str]:
    """The model variables of spec.MODELS that a public test calls (``model_1(…)``)."""
    from ds201_lab1 import spec

    text = "\n".join(p.read_text() for p in PUBLIC_TESTS.glob("*.py"))
    return [name for name, _ in spec.MODELS.values() if re.search(rf"\b{name}\(", text)]


def regrade_floor(executed: Path) -> dict[str, float]:
    """FLOOR_SCRIPT's figures, on the execution in ``executed``'s cache that saved the most models."""
    artifacts = max((executed / ".cache").glob("*/artifacts"), key=lambda p: len(list(p.glob("models/*"))))
    cmd = [sys.executable, "-c", FLOOR_SCRIPT, str(artifacts), *called_by_public_tests()]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        problems.append(f"item 3 floor: not measured: {proc.stderr.strip().splitlines()[-1][-500:]}")
        return {"import": math.nan, "rebuild": math.nan, "forward": math.nan}
    return json.loads(proc.stdout.splitlines()[-1])


REGRADE_PARTS = (  # item 3's breakdown, from the verify seconds the grader logs per submission
    ("verification of one submission (after the first)", "one verify process: rebuild the models, run the tests"),
    ("first answer (the verifiers' start-up and warm-up)", "Python, TensorFlow, the checks' data"),
    ("command (start-up, plan, reports: wall − the submissions' time)", "the rest of the wall, per run"),
)


def run_make(times: int) -> None:
    """``make assignment`` and ``make test``, each ``times`` times; their hooks record them in HISTORY."""
    for target in ("assignment", "test"):
        for r in range(times):
            log(f"item 5: make {target}, run {r + 1}/{times}")
            start = time.monotonic()
            proc = subprocess.run(["make", target], cwd=ROOT, stdout=sys.stderr)
            minutes = (time.monotonic() - start) / 60
            notes.append(f"item 5: this bench ran `make {target}`: {minutes:.1f} min, exit {proc.returncode}")


def recorded(what: str) -> list[float]:
    """Minutes of the last 5 successful recorded runs of ``what`` on this host."""
    lines = HISTORY.read_text().splitlines() if HISTORY.is_file() else []
    runs = [e for e in map(json.loads, filter(None, lines)) if e["what"] == what and e["host"] == platform.node()]
    failed = sum(e["exitstatus"] != 0 for e in runs[-5:])
    if failed:
        notes.append(f"item 5: {failed} of the last 5 recorded `{what}` runs failed and are left out")
    return [e["seconds"] / 60 for e in runs if e["exitstatus"] == 0][-5:]


def item_7(runs: int, scratch: Path) -> tuple[list[float], list[float]]:
    """Walls of local -j 2 and of the cluster (2 single-slot workers) on CLUSTER_BATCH tiny notebooks."""
    sys.path.insert(0, str(ROOT / "tests"))
    from dask_cluster import Cluster

    subs = scratch / "tiny"
    subs.mkdir()
    for k in range(CLUSTER_BATCH):
        nb = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
        nb.cells = [nbformat.v4.new_code_cell(f"layer_kinds = ['input', 'hidden', 'output']  # copy {k}")]
        nbformat.write(nb, subs / f"t{k}.ipynb")
    local, cluster = [], []
    for r in range(runs):
        log(f"item 7: {CLUSTER_BATCH} tiny notebooks at local -j 2, run {r + 1}/{runs}")
        out = scratch / f"tiny-local-{r}"
        local.append(grade(subs, out, 2))
        check_scores(out, False, "item 7 (local)")
        shutil.rmtree(out, ignore_errors=True)
        c = Cluster(scratch / f"dask-{r}")
        try:
            c.add_worker("w1")
            c.add_worker("w2")
            c.wait_workers(2)
            log(f"item 7: the same on the cluster (2 workers × 1 slot), run {r + 1}/{runs}")
            out = scratch / f"tiny-cluster-{r}"
            cluster.append(grade(subs, out, 2, "--scheduler", c.address))
            check_scores(out, False, "item 7 (cluster)")
            shutil.rmtree(out, ignore_errors=True)
        finally:
            c.close()
        if c.left:
            problems.append(f"item 7: processes survived the cluster: {c.left}")
    return local, cluster


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
rows: list[tuple[str, str]] = []  # (item, Markdown line), printed in item order


def row(item: str, what: str, values: list[float], unit: str, target: str = "", quick: bool = False) -> None:
    values = [v for v in values if not math.isnan(v)]
    digits = 2 if unit in ("×", "GiB") or target == "regrade" or "floor" in what else 1
    if values:
        median = statistics.median(values)
        shown_median = f"{median:.{digits}f}×" if unit == "×" else f"{median:.{digits}f} {unit}"
        cells = [shown_median, f"{min(values):.{digits}f}–{max(values):.{digits}f}", str(len(values))]
    else:
        median, cells = math.nan, ["—", "—", "0"]
    shown, met = TARGETS[target] if target else ("—", None)
    verdict = "—" if met is None or not values else "smoke" if quick else "yes" if met(median) else "**no**"
    rows.append((item, f"| {item} | {what} | {' | '.join(cells)} | {shown} | {verdict} |"))


def machine() -> str:
    def read(path: str) -> str:
        return Path(path).read_text() if Path(path).exists() else ""

    model = re.search(r"^model name\s*:\s*(.*)$", read("/proc/cpuinfo"), re.M)
    ram = re.search(r"^MemTotal:\s*(\d+) kB", read("/proc/meminfo"), re.M)
    cpu = model.group(1) if model else platform.processor() or platform.machine()
    memory = f"{int(ram.group(1)) / 2**20:.1f} GiB RAM" if ram else "RAM unknown"
    versions = f"Python {platform.python_version()}, tensorflow {version('tensorflow')}"
    return f"{cpu}, {os.cpu_count()} cores, {memory}; {versions}, otter-grader {version('otter-grader')}"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs of items 1–3 (default 3)")
    p.add_argument("--batch-runs", type=int, default=3, help="runs of item 4's batches (default 3; each ≈ 12 min here)")
    p.add_argument("--jobs", type=int, default=2, help="-j of item 4's parallel batch and item 3 (default 2)")
    p.add_argument("--only", default="1,2,3,4,5,6,7", help="items to run, e.g. 1,2 (default all)")
    p.add_argument("--make", type=int, default=0, metavar="N", help="first run make assignment and make test N times")
    p.add_argument("--quick", action="store_true", help="smoke-test the harness: blank notebook, 1 epoch, 1 run")
    args = p.parse_args()
    args.only = {int(x) for x in args.only.split(",") if x.strip()}
    if not args.only <= {1, 2, 3, 4, 5, 6, 7}:
        p.error("--only takes items 1 to 7")
    if args.jobs < 2:
        p.error("--jobs must be at least 2 (item 4 compares -j 1 with -j JOBS)")
    if args.quick:
        args.runs = args.batch_runs = 1
    if args.make:
        args.only.add(5)
    if 6 in args.only and not args.only & {2, 3, 4}:
        args.only.add(2)  # the peak memory comes from the grader's runs
    if 2 in args.only:
        args.only.add(1)  # its ratio needs the bare runs
    return args


def main() -> int:
    args = parse_args()
    only, quick, jobs = args.only, args.quick, args.jobs
    started, load = dt.datetime.now(), os.getloadavg()[0]
    memory: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ds201-bench-", ignore_cleanup_errors=True) as tmp:
        scratch = Path(tmp)
        if args.make:
            run_make(args.make)
        nb = the_notebook(quick)
        if 1 in only:
            bare, graded, ratios, breakdown = items_1_2(nb, args.runs, 2 in only, scratch, quick, memory)
            row("1", "solution end to end, bare nbclient", [b["whole notebook"] for b in bare], "s", quick=quick)
            for part in PARTS:
                row("1", f"… fit: {part}", [b[part] for b in bare], "s", quick=quick)
        if 2 in only:
            row("2", "grader, one submission (wall, -j 1)", graded, "s", quick=quick)
            row("2", "grader / bare (run by run)", ratios, "×", "ratio", quick)
            for phase, what in PHASES:
                row("2", f"… grader: {phase} ({what})", [b[phase] for b in breakdown], "s", quick=quick)
        if only & {3, 4}:
            write_variants(nb, scratch / "four")
        executed, setup = None, (math.nan, jobs)
        if 4 in only:
            walls, each, executed = item_4(scratch / "four", args.batch_runs, jobs, scratch, quick, memory)
            row("4", f"batch of {VARIANTS}, -j 1 (wall)", walls[1], "s", quick=quick)
            row("4", f"batch of {VARIANTS}, -j {jobs} (wall)", walls[jobs], "s", quick=quick)
            speedups = [a / b for a, b in zip(walls[1], walls[jobs])]
            row("4", f"speed-up -j 1 / -j {jobs}", speedups, "×", "speedup", quick)
            row("4", "… each submission within the -j 1 batch", each[1], "s", quick=quick)
            row("4", f"… each submission within the -j {jobs} batch", each[jobs], "s", quick=quick)
            setup = (walls[1][0], 1)
        if 3 in only:
            if executed is None:
                log(f"item 3: setup batch, executing the {VARIANTS} distinct submissions at -j {jobs}")
                executed = scratch / "setup"
                setup = (grade(scratch / "four", executed, jobs), jobs)
                check_scores(executed, not quick, "item 3 setup")
                memory += peaks(executed)
            write_variants(nb, scratch / "twenty", COPIES)
            walls, parts = item_3(executed, scratch / "twenty", args.runs, jobs, scratch)
            n = VARIANTS * COPIES
            per_submission = [w / n for w in walls]
            row("3", f"re-grade {n} after a threshold change, per submission", per_submission, "s", "regrade", quick)
            for part, what in REGRADE_PARTS:
                row("3", f"… {part} ({what})", parts[part], "s", quick=quick)
            floors = [regrade_floor(executed) for _ in range(args.runs)]
            alone = {k: [f[k] for f in floors] for k in ("import", "rebuild", "forward")}
            row("3", "… floor: `import keras` in a fresh verifier (once per run)", alone["import"], "s", quick=quick)
            row("3", "… floor: rebuilding one submission's models (CPU)", alone["rebuild"], "s", quick=quick)
            called = ", ".join(called_by_public_tests())
            row("3", f"… floor: the public tests' forward passes ({called}; CPU)", alone["forward"], "s", quick=quick)
            cores = os.cpu_count() or 1
            floor = [f["import"] / n + (f["rebuild"] + f["forward"]) / cores for f in floors]
            what = f"… floor per submission: import / {n} + (rebuild + forward passes) / {cores} cores"
            row("3", what, floor, "s", quick=quick)
            full = f"… full execution, per submission (setup batch -j {setup[1]} wall / {VARIANTS})"
            row("3", full, [setup[0] / VARIANTS], "s", quick=quick)
        if 5 in only:
            for what in ("make assignment", "make test"):
                row("5", f"`{what}` (last 5 recorded runs)", recorded(what), "min", what, quick=False)
        if 6 in only:
            row("6", "peak memory of one grading worker", memory, "GiB", quick=quick)
        if 7 in only:
            local, on_cluster = item_7(args.batch_runs, scratch)
            n = CLUSTER_BATCH
            row("7", f"batch of {n} tiny notebooks, local -j 2 (wall)", local, "s", quick=quick)
            row("7", f"batch of {n} tiny notebooks, cluster 2 workers × 1 slot (wall)", on_cluster, "s", quick=quick)
            overhead = [(c - lo) / n for lo, c in zip(local, on_cluster)]
            row(
                "7", "cluster overhead per submission ((cluster − local) / n)", overhead, "s", "cluster overhead", quick
            )
            ratio = [lo / c for lo, c in zip(local, on_cluster)]
            row("7", "throughput, cluster / local -j 2", ratio, "×", "cluster throughput", quick)

    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    command = shlex.join([python, *sys.argv])
    print("## Grading speed (bench/bench.py)\n")
    if quick:
        print("**SMOKE FIGURES (`--quick`)**: the blank student notebook (1 epoch) instead of the solution,")
        print("one run each. They check the harness; they are not the targets.\n")
    print(f"- machine: {machine()}")
    print(f"- sandbox (as the grader reports it): {sandbox or 'not run'}")
    minutes = (dt.datetime.now() - started).total_seconds() / 60
    print(f"- date: {started:%Y-%m-%d %H:%M}, the bench took {minutes:.0f} min; host {platform.node()}")
    print(f"- 1-minute load average: {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"- command: `{command}`")
    print(f"- runs: {args.runs} of each of items 1–3, {args.batch_runs} batch run(s) per -j of item 4\n")
    print("| # | what | median | min–max | n | target | met? |")
    print("|---|---|---:|---:|---:|---|---|")
    print("\n".join(line for _, line in sorted(rows, key=lambda r: r[0])))
    grader = f"python -m ds201_lab1.grade SUBS OUT --timeout {GRADE_TIMEOUT}"
    stricter = "STRICTER: the zip extracted with ACCURACY_THRESHOLDS['base'] = 0.9999"
    commands = {
        1: "nbclient in a scratch folder (the notebook, student/tests), export cell skipped, kernel start to end",
        2: f"`{grader} -j 1`, SUBS holding the notebook alone",
        3: f"`{grader} -j {jobs} --autograder STRICTER` over {VARIANTS}×{COPIES} copies, OUT/.cache hard-linked "
        f"from the setup batch; {stricter}; the floor: `python -c FLOOR_SCRIPT` on one cached solution, alone",
        4: f"`{grader} -j 1` and `-j {jobs}` over {VARIANTS} byte-distinct copies",
        5: "`make assignment`, `make test` (recorded by build.main and bench/pytest_timing.py)",
        6: "meta.peak_rss in OUT/.cache/*/execution.json of the grader runs above",
        7: f"`{grader} -j 2` and `{grader} -j 2 --scheduler ADDRESS` over {CLUSTER_BATCH} byte-distinct tiny "
        "notebooks, alternately; ADDRESS: `dask scheduler` + 2 × `dask worker --nthreads 1 --resources grading=1` "
        "on 127.0.0.1 with DASK_CONFIG=dask.yaml, restarted before each cluster run (tests/dask_cluster.py)",
    }
    print("\nCommands (OUT is a fresh folder every run):\n")
    for item in sorted(only):
        print(f"- {item}: {commands[item]}")
    for line in notes + [f"**problem**: {p}" for p in problems]:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
