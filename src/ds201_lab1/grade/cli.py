"""Grade a folder of submissions without Docker: execute untrusted, verify trusted.

Run as ``python -m ds201_lab1.grade SUBMISSIONS OUT [-j N] [--timeout S] [--force] [--scheduler ADDRESS]``.

Every ``.ipynb`` and otter export ``.zip`` under SUBMISSIONS is executed in a sandbox (untrusted)
and verified by a separate process against the autograder's tests (trusted). OUT receives
``final_grades.csv`` (otter grade's format, rewritten after every submission), ``feedback/``,
``summary.md``/``summary.json``/``score_histogram.png`` and ``grading-log.jsonl``; executions are
cached in ``OUT/.cache`` so a second run only re-verifies (``--force`` re-executes). With
``--scheduler`` the executions not in the cache run on a Dask cluster's workers (:mod:`.cluster`).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import Any

from .. import data, review
from . import NOT_IMPORTED_BY_GRADER, execute, isolation, processes, report, skip_imports, submissions, verify
from . import outcome as oc
from .cache import Cache, Execution, Limits, environment_key
from .report import GradeResult
from .verifiers import VerifyPool

PACKAGE = Path(__file__).resolve().parents[1]


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
        default=Path("autograder/lab1-autograder.zip"),
        help="autograder zip or folder with tests/ (default: autograder/lab1-autograder.zip, from where you run it)",
    )
    p.add_argument(
        "--isolation",
        choices=["auto", "namespaces", "userns", "none"],
        default="auto",
        help="sandbox for the notebooks (default: the strongest that works here)",
    )
    p.add_argument("--verify-timeout", type=float, default=600, help="seconds for verifying one submission")
    p.add_argument("--review", action="store_true", help="after grading, write OUT/review/ and merge manual scores")
    review.add_arguments(p)
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="grade on the workers of a running Dask cluster (tcp://HOST:8786); cached executions are "
        "re-verified here, -j of them at once",
    )
    p.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="execute student code even where no sandbox works (refused otherwise): only for code you trust",
    )
    args = p.parse_args(argv)
    args.review = args.review or bool(args.manual or args.anonymous)  # either asks for the review
    review.check_arguments(p, args, args.review)
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
# The autograder (trusted)
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


def expand_data(dest: Path) -> None:
    """The datasets as plain .npy files under ``dest`` (linked from the cache when `make data` expanded
    it there): every kernel and verifier memory-maps the same pages."""
    data.expand(data.cache_dir().resolve(), dest)
    missing = [n for n in data.LAYOUT if not (dest / n).is_dir()]
    if missing:
        raise SystemExit(
            f"the dataset cache {data.cache_dir()} lacks {', '.join(n + '.npz' for n in missing)}, and the "
            "notebooks run without network: run `make data` (or set DS201_DATA_DIR) first"
        )


def threads_per_job(jobs: int, asked: int | None = None) -> int:
    """TensorFlow/BLAS threads per notebook: the cores shared by the jobs, unless asked otherwise.
    One thread each at -j 2 on 2 cores beats two each (oversubscribed): bench/RESULTS.md."""
    return asked or max(1, (os.cpu_count() or 1) // jobs)


def child_env(threads: int, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    pythonpath = [str(isolation.PACKAGE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
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


# ---------------------------------------------------------------------------------------------
# One run: its folders, the autograder, the plan, the sandbox, the verifiers and the cache
# ---------------------------------------------------------------------------------------------
class Run:
    """Everything a grading run shares; :meth:`grade` grades one submission."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.root, self.out = args.submissions.resolve(), args.out.resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.out / ".lock", "w")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another grading run is using {self.out}; wait for it or choose another OUT") from None
        work, scratch = self.out / ".work", self.out / ".scratch"
        work.mkdir(exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)  # left by a run that was killed
        scratch.mkdir()
        self.threads = threads_per_job(args.jobs, args.threads)
        self.data_dir = self.out / ".data"
        self.autograder = prepare_autograder(args.autograder.resolve(), self.out)
        expand_data(self.data_dir)
        self.plan = verify.plan(self.autograder)
        plan_path = work / "plan.json"
        plan_path.write_text(json.dumps(self.plan))
        # The verifiers start now and load TensorFlow and the data while the first notebooks execute.
        memory = int(args.memory * 2**30)
        env = child_env(self.threads, self.data_dir)
        outputs = self.out / ".cache" / "outputs"  # kept for re-grades (verify.OutputsStore)
        self.verifiers = VerifyPool(args.jobs, self.autograder, plan_path, env, memory, outputs)
        if not args.scheduler:  # on a cluster the workers verify; these only re-verify cached executions
            self.verifiers.launch()
        limits = Limits(args.timeout, memory, int(args.disk * 2**30), args.cell_timeout)
        kernel_files = execute.kernel_files(self.autograder)
        self.settings = execute.Settings(
            scratch, kernel_files, self.data_dir, limits, self.threads, self.plan["snapshot"]
        )
        self.cache = Cache(self.out / ".cache", environment_key(kernel_files, self.plan["snapshot"]), limits)
        self.cache.clean_stale()
        hidden = [self.autograder, PACKAGE, self.out / ".cache", self.out / ".autograder", self.root, self.data_dir]
        self.sandbox = isolation.Sandbox(args.isolation, scratch, hidden, args.allow_unsandboxed)
        if args.scheduler:
            pass  # nothing executes here: each worker tests its own sandbox
        elif args.isolation != "auto":
            self.sandbox.mode()  # a mode asked for by name fails here, before anything runs
        elif not self.cache.has_entries():
            self.sandbox.test_in_background()  # executions will come: test it while the verifiers start
        self.possible = report.possible(self.plan)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.executed: set[str] = set()  # submissions (by hash) executed in this run

    def _lock_for(self, sha256: str) -> threading.Lock:
        """One lock per submission content: identical files are executed once, the copies reuse it."""
        with self._guard:
            return self._locks.setdefault(sha256, threading.Lock())

    def execution(self, sub: submissions.Submission) -> Execution:
        """The cached execution of these bytes, or a new one (``--force``: new once per run)."""
        with self._lock_for(sub.sha256):
            force = self.args.force and sub.sha256 not in self.executed
            ex = None if force else self.cache.lookup(sub.sha256)
            if ex is None:
                mode = self.sandbox.mode()
                ex = execute.execute(sub.sha256, sub.notebook or {}, sub.notebook_name, self.settings, mode, self.cache)
            self.executed.add(sub.sha256)
            return ex

    def grade(self, sub: submissions.Submission) -> GradeResult:
        start = time.monotonic()
        ex = self.execution(sub)
        verified, seconds = None, 0.0
        if ex.outcome.graded and ex.artifacts is not None:
            with self.verifiers.worker() as verifier:
                began = time.monotonic()
                verified = verifier.verify(ex.artifacts, self.args.verify_timeout)
                seconds = time.monotonic() - began
        result = self.result(sub, ex, verified, start)
        if verified is not None:
            result.seconds["verify"] = round(seconds, 2)
        return result

    def result(
        self, sub: submissions.Submission, ex: Execution, verified: tuple[dict | None, str] | None, start: float
    ) -> GradeResult:
        """The grade of one execution and its verification (``(questions, problem)``, None: not verified)."""
        result = GradeResult(
            sub.name,
            ex.outcome,
            dict.fromkeys(self.plan["questions"], 0.0),
            cell_errors=ex.meta.get("errors", []),
            how="cached" if ex.reused else "executed",
            seconds={} if ex.reused else dict(ex.meta.get("seconds", {})),
            repairs=sub.repairs,
        )
        if ex.outcome.stopped:
            result.running = ex.meta.get("running")
        if verified is not None:
            questions, problem = verified
            if questions is None:
                result.outcome = oc.grader_error(problem)
            else:
                result.details = questions
                result.scores = {q: float(questions.get(q, {}).get("score", 0.0)) for q in self.plan["questions"]}
        result.elapsed = time.monotonic() - start
        return result

    def close(self) -> None:
        self.verifiers.close()
        self._lock_file.close()


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
class Results:
    """The graded submissions so far, written out after each one: CSV, feedback, log, progress."""

    def __init__(self, run: Run, total: int):
        self.run, self.items = run, []
        self.progress = Progress(total, sum(run.possible.values()))
        self.run_id = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.log = open(run.out / "grading-log.jsonl", "a")  # noqa: SIM115 (closed by close())
        self.names: dict[str, str] = {}  # file -> its own feedback file (report.output_names)

    def add(self, r: GradeResult) -> None:
        out, plan = self.run.out, self.run.plan
        self.items.append(r)
        report.write_csv(out / "final_grades.csv", plan, self.items)
        report.write_feedback(out / "feedback", plan, r, self.names.get(r.file))
        entry = {"run": self.run_id, "file": r.file, "status": r.status, "how": r.how, "total": r.total}
        self.log.write(json.dumps({**entry, "elapsed": round(r.elapsed, 2), "seconds": r.seconds}) + "\n")
        self.log.flush()
        self.progress.finish(r)

    def close(self) -> None:
        self.progress.close()
        self.log.close()


def grade_all(run: Run, paths: list[Path], client: Any = None) -> tuple[Results, bool]:
    """Grade every submission at ``-j`` at once (on the cluster of ``client``, a Dask client, when given);
    ``(results, interrupted)``. Ctrl-C keeps what is graded."""
    results = Results(run, len(paths))
    try:
        gradable = []
        subs = [submissions.read_submission(path, run.root, run.plan.get("assignment_name")) for path in paths]
        results.names = report.output_names(sub.name for sub in subs)
        for sub in subs:
            if sub.rejected is None:
                gradable.append(sub)
            else:
                results.add(GradeResult(sub.name, sub.rejected, dict.fromkeys(run.plan["questions"], 0.0)))
        report.write_csv(run.out / "final_grades.csv", run.plan, results.items)
        if client is not None:
            from . import cluster

            if cluster.grade(run, results, gradable, client):
                return results, True
        else:

            def job(sub: submissions.Submission) -> GradeResult:
                results.progress.start(sub.name)
                try:
                    return run.grade(sub)
                except processes.Stopped:
                    raise
                except Exception as e:  # one submission's failure is its status; the batch goes on
                    detail = f"{type(e).__name__}: {str(e)[:200]}"
                    return GradeResult(sub.name, oc.grader_error(detail), dict.fromkeys(run.plan["questions"], 0.0))

            with ThreadPoolExecutor(max_workers=run.args.jobs) as pool:
                futures = [pool.submit(job, sub) for sub in gradable]
                try:
                    for future in as_completed(futures):
                        results.add(future.result())
                except (KeyboardInterrupt, processes.Stopped):
                    processes.stop_all()
                    pool.shutdown(wait=True, cancel_futures=True)
                    return results, True
    finally:
        results.close()
    report.write_csv(run.out / "final_grades.csv", run.plan, results.items)
    report.write_summary(run.out, run.plan, results.items)
    return results, False


def main(argv: list[str] | None = None) -> int:
    skip_imports(NOT_IMPORTED_BY_GRADER)
    args = parse_args(argv)
    client = None
    if args.scheduler:  # first: an unreachable scheduler stops the command at once
        from . import cluster

        client = cluster.connect(args.scheduler)
    try:
        run = Run(args)
    except BaseException:
        if client is not None:
            client.close()
        raise
    try:
        paths = submissions.discover(run.root, exclude=(run.out,))
        cell = f", cell timeout {args.cell_timeout:g} s" if args.cell_timeout else ""
        print(
            f"grading {len(paths)} submission(s) from {run.root} into {run.out} — "
            f"-j {args.jobs}, timeout {args.timeout:g} s{cell}, memory {args.memory:g} GiB",
            file=sys.stderr,
        )
        results, interrupted = grade_all(run, paths, client)
        csv_path = run.out / "final_grades.csv"
        if interrupted:
            print(
                f"interrupted: {len(results.items)} graded are in {csv_path}; run the same command "
                "again to resume (finished executions are cached)",
                file=sys.stderr,
            )
            return 130
        review_args = {"manual_csv": args.manual, "anonymous": args.anonymous, "master": args.master}
        manual = review.run(run.root, run.out, **review_args) if args.review else 0
        executed = sum(r.executed for r in results.items)
        print(
            f"done: {len(results.items)} graded ({executed} executed, {len(results.items) - executed} without "
            f"executing); {csv_path}",
            file=sys.stderr,
        )
        return 2 if any(r.outcome.kind == oc.GRADER_ERROR for r in results.items) else manual
    finally:
        run.close()
        if client is not None:
            client.close()
