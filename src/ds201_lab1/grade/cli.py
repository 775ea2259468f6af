"""Grade a folder of submissions without Docker: execute untrusted, verify trusted.

Run as ``python -m ds201_lab1.grade SUBMISSIONS OUT [-j N] [--timeout S] [--force]``.

Every ``.ipynb`` and otter export ``.zip`` under SUBMISSIONS is executed in a sandbox (untrusted)
and verified by a separate process against the autograder's tests (trusted). OUT receives
``final_grades.csv`` (otter grade's format, rewritten after every submission), ``feedback/``,
``summary.md``/``summary.json``/``score_histogram.png`` and ``grading-log.jsonl``; executions are
cached in ``OUT/.cache`` so a second run only re-verifies (``--force`` re-executes).
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import Any

from .. import review
from . import execute, report, submissions
from .report import GradeResult
from .verifiers import VerifyPool

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = PACKAGE.parents[1]
DEFAULT_AUTOGRADER = ROOT / "autograder" / "lab1-autograder.zip"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ds201-grade", description=__doc__.splitlines()[0])
    p.add_argument("submissions", type=Path, help="folder holding the .ipynb / .zip submissions (searched recursively)")
    p.add_argument("out", type=Path, help="output folder (final_grades.csv, feedback/, summary, cache)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="submissions executed at once (default 1)")
    p.add_argument("--timeout", type=float, default=900, help="wall-clock seconds per submission (default 900)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="TensorFlow/BLAS threads per notebook and per verifier (default: CPU cores / -j, at least 1)",
    )
    p.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        help="seconds one cell may run before it is interrupted; the notebook goes on (default: none)",
    )
    p.add_argument("--memory", type=float, default=6, help="memory cap per submission in GiB (default 6)")
    p.add_argument("--disk", type=float, default=8, help="disk cap per submission's scratch folder in GiB (default 8)")
    p.add_argument("--force", action="store_true", help="re-execute even when a cached execution exists")
    p.add_argument(
        "--autograder",
        type=Path,
        default=DEFAULT_AUTOGRADER,
        help="autograder zip or folder with tests/ (default: autograder/lab1-autograder.zip)",
    )
    p.add_argument(
        "--isolation",
        choices=["auto", "namespaces", "userns", "none"],
        default="auto",
        help="sandbox for the notebooks (default: the strongest that works here)",
    )
    p.add_argument("--verify-timeout", type=float, default=600, help="seconds for verifying one submission")
    # issue 12: the manual questions' review pack and scores (ds201_lab1.review)
    p.add_argument("--review", action="store_true", help="after grading, write OUT/review/ and merge manual scores")
    review.add_arguments(p)
    args = p.parse_args(argv)
    review.check_arguments(p, args)
    if not args.submissions.is_dir():
        p.error(f"{args.submissions} is not a folder: pass the folder that holds the submissions")
    if args.jobs < 1:
        p.error("-j must be at least 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    if not args.autograder.exists():
        p.error(f"{args.autograder} not found: run `make assignment`, or pass --autograder <zip or folder>")
    return args


# ---------------------------------------------------------------------------------------------
# The autograder and the plan (trusted)
# ---------------------------------------------------------------------------------------------
def prepare_autograder(path: Path, out: Path) -> Path:
    """A folder with ``tests/`` (and ``files/``): the given folder, or the zip extracted once under OUT."""
    if path.is_dir():
        return path.resolve()
    data = path.read_bytes()
    dest = out / ".autograder" / hashlib.sha256(data).hexdigest()[:16]
    if (dest / "tests").is_dir():
        return dest.resolve()
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or info.filename.startswith("/") or ".." in parts:
                continue
            target = tmp.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
    tmp.rename(dest)
    return dest.resolve()


def package_files(autograder: Path) -> dict[str, Path]:
    """``ds201_lab1/__init__.py`` and ``data.py`` for the sandbox: the autograder's copies if it ships them."""
    shipped = autograder / "files" / "ds201_lab1"
    return {
        name: (shipped / name if (shipped / name).is_file() else PACKAGE / name) for name in ("__init__.py", "data.py")
    }


def threads_per_job(jobs: int, asked: int | None = None) -> int:
    """TensorFlow/BLAS threads per notebook: the cores shared by the jobs, unless asked otherwise.
    One thread each at -j 2 on 2 cores beats two each (oversubscribed): bench/RESULTS.md."""
    return asked or max(1, (os.cpu_count() or 1) // jobs)


def child_env(threads: int, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    pythonpath = [str(execute.PACKAGE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "DS201_DATA_DIR": str(data_dir),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_NUM_INTRAOP_THREADS": str(threads),
            "TF_NUM_INTEROP_THREADS": str(threads),
            "OMP_NUM_THREADS": str(threads),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


class Sandbox:
    """The sandbox mode, chosen by its self-test once, before the first execution: a run that only
    re-verifies cached executions never starts one. A mode named by --isolation is tested at once."""

    def __init__(self, requested: str, workroot: Path, hidden: list[Path]):
        self.requested, self.workroot, self.hidden = requested, workroot, hidden
        self._mode: str | None = None
        self._lock = threading.Lock()

    def mode(self) -> str:
        with self._lock:
            if self._mode is None:
                existing = [p for p in self.hidden if p.exists()]
                mode, note = execute.detect_isolation(self.requested, self.workroot, existing)
                print(f"sandbox: {note}", file=sys.stderr, flush=True)
                if mode == "none":
                    print(
                        "WARNING: no sandbox here: student code runs with your permissions and can read the "
                        "hidden tests.",
                        file=sys.stderr,
                        flush=True,
                    )
                self._mode = mode
            return self._mode

    def test_in_background(self) -> None:
        threading.Thread(target=self.mode, name="sandbox-self-test", daemon=True).start()


# ---------------------------------------------------------------------------------------------
# One submission
# ---------------------------------------------------------------------------------------------
class Context:
    def __init__(
        self,
        args: argparse.Namespace,
        out: Path,
        autograder: Path,
        plan: dict,
        settings: execute.Settings,
        verifiers: VerifyPool,
        sandbox: Sandbox,
    ):
        self.args, self.out, self.autograder, self.plan = args, out, autograder, plan
        self.settings, self.verifiers, self.sandbox = settings, verifiers, sandbox
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.executed: set[str] = set()  # submissions (by hash) executed in this run

    def lock_for(self, sha256: str) -> threading.Lock:
        """One lock per submission content: identical files are executed once, the copies reuse it."""
        with self._guard:
            return self._locks.setdefault(sha256, threading.Lock())


def zeros(plan: dict) -> dict[str, float]:
    return {q: 0.0 for q in plan["questions"]}


def verify(ctx: Context, sha256: str, artifacts: Path) -> tuple[dict | None, str]:
    """The trusted stage, by an idle verifier process of the pool; ``(results, problem)``."""
    folder = Path(tempfile.mkdtemp(prefix=f"verify-{sha256[:12]}-", dir=ctx.settings.scratch))
    try:
        (folder / "work").mkdir()
        with ctx.verifiers.worker() as verifier:
            return verifier.verify(artifacts, folder / "work", folder / "results.json", ctx.args.verify_timeout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def grade_one(ctx: Context, sub: submissions.Submission) -> GradeResult:
    start = time.monotonic()
    with ctx.lock_for(sub.sha256):
        force = ctx.settings.force and sub.sha256 not in ctx.executed
        ex = None if force else execute.cached(ctx.settings, sub.sha256)
        if ex is None:
            notebook, name = sub.notebook or {}, sub.notebook_name
            settings = dataclasses.replace(ctx.settings, isolation=ctx.sandbox.mode())
            ex = execute.execute(sub.sha256, notebook, name, ctx.plan, settings, force=True)
        ctx.executed.add(sub.sha256)
    result = GradeResult(
        sub.name,
        ex.status,
        zeros(ctx.plan),
        cell_errors=ex.meta.get("errors", []),
        how="cached" if ex.reused else "executed",
    )
    if ex.state in ("timeout", "memory", "kernel_died"):
        result.running = ex.meta.get("running")
    if ex.state in execute.GRADED_STATES and ex.artifacts is not None:
        results, problem = verify(ctx, sub.sha256, ex.artifacts)
        if results is None:
            result.status = problem
        else:
            result.details = results["questions"]
            result.scores = {q: float(results["questions"].get(q, {}).get("score", 0.0)) for q in ctx.plan["questions"]}
    result.elapsed = time.monotonic() - start
    return result


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------
class Progress:
    """A rich progress bar on a terminal, one line per submission otherwise."""

    def __init__(self, total: int, possible: float):
        self.total, self.possible, self.done, self.times = total, possible, 0, []
        self.running: list[str] = []
        self.lock = threading.Lock()
        self.bar: Any = None
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]grading"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                transient=False,
            )
            self.task = self.bar.add_task("", total=total)
            self.bar.start()

    def _describe(self, last: str) -> str:
        avg = f"{sum(self.times) / len(self.times):.1f} s/submission" if self.times else ""
        now = f"running {', '.join(self.running[:3])}" if self.running else ""
        return " | ".join(x for x in (now, last, avg) if x)

    def start(self, name: str) -> None:
        with self.lock:
            self.running.append(name)
            if self.bar:
                self.bar.update(self.task, description=self._describe(""))

    def finish(self, r: GradeResult) -> None:
        with self.lock:
            self.done += 1
            if r.file in self.running:
                self.running.remove(r.file)
            if r.executed:
                self.times.append(r.elapsed)
            score = f"{report._num(r.total)}/{report._num(self.possible)}"
            line = f"{r.file}: {r.status} — {score} in {r.elapsed:.1f} s ({r.how})"
            if self.bar:
                self.bar.update(self.task, advance=1, description=self._describe("last " + line))
            else:
                print(f"[{self.done}/{self.total}] {line}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar:
            self.bar.stop()
            self.bar = None


# ---------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ds201_lab1.data import cache_dir, expand

    root = args.submissions.resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another grading run is using {out}; wait for it or choose another OUT") from None
    work = out / ".work"
    work.mkdir(exist_ok=True)
    (out / ".scratch").mkdir(exist_ok=True)
    execute.clean_stale(out)
    threads = threads_per_job(args.jobs, args.threads)
    data_dir = out / ".data"
    env = child_env(threads, data_dir)
    autograder = prepare_autograder(args.autograder.resolve(), out)
    # The datasets as plain .npy files under OUT (linked from the cache when `make data` expanded it
    # there): every kernel and verifier memory-maps the same pages.
    expand(cache_dir().resolve(), data_dir)
    missing = [n for n in execute.DATASETS if not (data_dir / n).is_dir()]
    if missing:
        raise SystemExit(
            f"the dataset cache {cache_dir()} lacks {', '.join(n + '.npz' for n in missing)}, and the "
            "notebooks run without network: run `make data` (or set DS201_DATA_DIR) first"
        )
    # The verifiers start next: the first writes the plan, the others load TensorFlow and the data,
    # as the first does after the plan, while the first notebooks execute.
    verifiers = VerifyPool(args.jobs, autograder, work, env, int(args.memory * 2**30))
    verifiers.launch()
    try:
        hidden = [
            ROOT / "autograder",
            ROOT / "src",
            ROOT / "tests",
            out / ".cache",
            out / ".autograder",
            root,
            data_dir,
        ]
        sandbox = Sandbox(args.isolation, out / ".scratch", hidden)
        if args.isolation != "auto":
            sandbox.mode()  # a mode asked for by name fails here, before anything runs
        elif not any((out / ".cache").glob("*/execution.json")):
            sandbox.test_in_background()  # nothing is cached: executions will come; test it alongside the plan
        plan = verifiers.start()
        points = report.possible(plan)
        pkg_files = package_files(autograder)
        settings = execute.Settings(
            out=out,
            package_files=pkg_files,
            data_dir=data_dir,
            isolation="untested",  # grade_one() fills in Sandbox.mode() before an execution
            timeout=args.timeout,
            memory_bytes=int(args.memory * 2**30),
            threads=threads,
            cell_timeout=args.cell_timeout,
            disk_bytes=int(args.disk * 2**30),
            force=args.force,
            env_key=execute.environment_key(pkg_files),
            spec_hash=execute.spec_hash(plan),
        )
        ctx = Context(args, out, autograder, plan, settings, verifiers, sandbox)
        paths = submissions.discover(root, exclude=(out,))
        cell = f", cell timeout {args.cell_timeout:g} s" if args.cell_timeout else ""
        print(
            f"grading {len(paths)} submission(s) from {root} into {out} — "
            f"-j {args.jobs}, timeout {args.timeout:g} s{cell}, memory {args.memory:g} GiB",
            file=sys.stderr,
        )
        results: list[GradeResult] = []
        progress = Progress(len(paths), sum(points.values()))
        run_id = time.strftime("%Y-%m-%dT%H:%M:%S")
        log = open(out / "grading-log.jsonl", "a")  # noqa: SIM115 (closed in the finally below)

        def record(r: GradeResult) -> None:
            results.append(r)
            report.write_csv(out / "final_grades.csv", plan, results)
            report.write_feedback(out / "feedback", plan, r)
            log.write(
                json.dumps(
                    {
                        "run": run_id,
                        "file": r.file,
                        "status": r.status,
                        "how": r.how,
                        "total": r.total,
                        "elapsed": round(r.elapsed, 2),
                    }
                )
                + "\n"
            )
            log.flush()
            progress.finish(r)

        try:
            gradable = []
            for path in paths:
                sub = submissions.read_submission(path, root, plan.get("assignment_name"))
                if sub.gradable:
                    gradable.append(sub)
                else:
                    record(GradeResult(sub.name, sub.status or "not graded", zeros(plan)))
            report.write_csv(out / "final_grades.csv", plan, results)
            pool = ThreadPoolExecutor(max_workers=args.jobs)

            def job(sub: submissions.Submission) -> GradeResult:
                progress.start(sub.name)
                return grade_one(ctx, sub)

            try:
                futures = [pool.submit(job, sub) for sub in gradable]
                for future in as_completed(futures):
                    record(future.result())
            except (KeyboardInterrupt, execute.Stopped):
                execute.stop_all()
                pool.shutdown(wait=True, cancel_futures=True)
                progress.close()
                print(
                    f"interrupted: {len(results)} graded are in {out / 'final_grades.csv'}; run the same command "
                    "again to resume (finished executions are cached)",
                    file=sys.stderr,
                )
                return 130
            pool.shutdown()
        finally:
            progress.close()
            log.close()
        report.write_csv(out / "final_grades.csv", plan, results)
        report.write_summary(out, plan, results)
        wanted = args.review or args.manual or args.anonymous
        manual = review.run(root, out, manual_csv=args.manual, anonymous=args.anonymous) if wanted else 0
        executed = sum(r.executed for r in results)
        errors = [r for r in results if r.status.startswith("grader error")]
        print(
            f"done: {len(results)} graded ({executed} executed, {len(results) - executed} without executing); "
            f"{out / 'final_grades.csv'}",
            file=sys.stderr,
        )
        return 2 if errors else manual
    finally:
        verifiers.close()
