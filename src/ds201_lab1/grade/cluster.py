"""Grading on a Dask distributed cluster (``--scheduler ADDRESS``): one task per submission.

Client side (the grading command): :func:`connect` reaches the scheduler within a short timeout or
stops with the way to start one. :func:`grade` re-verifies cached executions here, from
``OUT/.cache``, without the cluster; every other submission becomes one Dask task that asks its
worker for one ``grading`` slot (and the memory one submission needs, ``MEMORY``, when the workers
declare it). No more tasks are in flight than the workers have slots, so a worker that dies takes
down only the submissions it was running. Each result is committed into ``OUT/.cache`` and written
by ``cli.Results`` as soon as it arrives, exactly as in a local run.

Worker side (:func:`grade_on_worker`, run by a Dask worker): the notebook (sent as data, never a
path) is executed in the project's sandbox under the worker's own folder, then verified by a
trusted ``verify`` process of that worker (one :class:`.VerifyPool` per worker process and run,
started at its first task). Only data go back: the outcome, the verify answer, the worker's notes
and the artifacts as a compressed tar archive for the client's cache.

Faults: a task whose worker dies is run again elsewhere by Dask; after the scheduler's
``distributed.scheduler.allowed-failures`` + 1 deaths it ends as ``KilledWorker`` and that
submission gets a grader error saying so. A worker that cannot sandbox stops the run (unless
``--allow-unsandboxed``). When the client is interrupted it cancels its tasks, and each worker kills
the sandbox of a cancelled task within a second: what finished is in ``OUT/.cache``, a rerun resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import queue
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from distributed import Client, KilledWorker, Reschedule, WorkerPlugin, get_worker
from distributed.core import Status
from distributed.worker import thread_state

from . import execute, isolation, processes, submissions
from . import outcome as oc
from .cache import Cache, Execution, Limits, environment_key
from .outcome import Outcome
from .verifiers import VerifyPool

CONNECT_TIMEOUT = "10s"  # a reachable scheduler answers in milliseconds
# What one submission needs, asked of a worker's MEMORY resource: the peak resident memory of a full
# solution's execution (bench/RESULTS.md, item 6: 3.49 GiB), or the --memory cap when it is lower.
SUBMISSION_MEMORY = int(3.5 * 2**30)
# The artifacts sent back per submission (uncompressed). A full solution's are about 1 GiB (the
# reshaped datasets among its values): 296 MiB once compressed (zlib level 1, 8.7 CPU-s; bench/RESULTS.md).
MAX_ARCHIVE_BYTES = 4 * 2**30
TASK_PREFIX = "ds201-grade"
# How a worker is started (README: Grading on a cluster); DASK_CONFIG names the checkout's dask.yaml.
WORKER_COMMAND = "DASK_CONFIG=dask.yaml dask worker {address} --nthreads 1 --resources grading=1 --memory-limit 8GiB"
START_WORKERS = (
    "start one in the project's checkout with `DASK_CONFIG=dask.yaml dask scheduler` (it prints its address, "
    f"tcp://HOST:8786), then on every machine that grades `{WORKER_COMMAND.format(address='tcp://HOST:8786')}` "
    "(README: Grading on a cluster)"
)


# ---------------------------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------------------------
def connect(address: str) -> Any:
    """A client of the scheduler at ``address``, or SystemExit at once naming it and how to start one."""
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise SystemExit(
            f"cannot reach the Dask scheduler at {address} ({type(e).__name__}: {e}).\nNo scheduler there? "
            f"{START_WORKERS[0].upper()}{START_WORKERS[1:]}; then pass its address to --scheduler "
            "(make grade SCHEDULER=tcp://HOST:8786)."
        ) from None
    client.register_plugin(Teardown(), name="ds201-grade-teardown")
    return client


def task_resources(workers: dict[str, dict], need: int) -> tuple[dict[str, float], int, list[str]]:
    """``(what each task asks, slots of the workers now, notes)`` from the scheduler's worker infos.

    Every task asks one ``grading`` slot; ``MEMORY`` (bytes) too when a worker declares it, and then
    a worker runs at most ``min(grading, MEMORY // need)`` submissions at once."""
    graders = {a: w.get("resources") or {} for a, w in workers.items() if (w.get("resources") or {}).get("grading")}
    notes = []
    if not graders:
        return {"grading": 1}, 0, notes
    with_memory = {a: r for a, r in graders.items() if "MEMORY" in r}
    if not with_memory:
        return {"grading": 1}, int(sum(r["grading"] for r in graders.values())), notes
    resources = {"grading": 1, "MEMORY": need}
    slots = 0
    for address, r in graders.items():
        fits = int(min(r["grading"], r.get("MEMORY", 0) // need))
        slots += fits
        if not fits:
            notes.append(
                f"worker {address} declares grading={r['grading']:g} MEMORY={r.get('MEMORY', 0):g}: no room for "
                f"one submission (MEMORY={need}), it gets none"
            )
    return resources, slots, notes


def allowed_failures(client: Any) -> int | None:
    """The scheduler's ``distributed.scheduler.allowed-failures`` (None when it cannot be read)."""
    try:
        return int(client.run_on_scheduler(_scheduler_allowed_failures))
    except Exception:  # an older or locked-down scheduler: only the message loses the figure
        return None


def _scheduler_allowed_failures(dask_scheduler: Any = None) -> int:
    return dask_scheduler.allowed_failures


def _job(run: Any) -> dict:
    """What every task of this run shares (plain data): the autograder as bytes, the plan, the limits."""
    limits = run.cache.limits
    return {
        "autograder": autograder_bytes(run.autograder),
        "plan": run.plan,
        "limits": [limits.timeout, limits.memory_bytes, limits.disk_bytes, limits.cell_timeout],
        "isolation": run.args.isolation,
        "allow_unsandboxed": run.args.allow_unsandboxed,
        "threads": run.args.threads,
        "verify_timeout": run.args.verify_timeout,
    }


def autograder_bytes(folder: Path) -> bytes:
    """The extracted autograder folder as a zip (same members, fixed order and dates)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def unpack_artifacts(blob: bytes, dest: Path, limit: int = MAX_ARCHIVE_BYTES) -> None:
    """Extract a worker's artifacts archive: plain folders and files with relative paths only."""
    total = 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        members = []
        for m in tar.getmembers():
            parts = PurePosixPath(m.name).parts
            if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
                continue
            total += m.size
            if total > limit:
                raise ValueError(f"the artifacts archive holds more than {limit} bytes")
            members.append(m)
        dest.mkdir(parents=True)
        tar.extractall(dest, members=members, filter="data")


def _commit(run: Any, sub: submissions.Submission, answer: dict) -> tuple[Execution, bool]:
    """``(the worker's execution, committed)``: into OUT/.cache when it can answer the next run."""
    outcome = Outcome.from_json(answer.get("outcome"))
    meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
    elapsed = float(answer.get("elapsed") or 0.0)
    if outcome.kind == oc.GRADER_ERROR:  # never cached, as in a local run
        return Execution(outcome, None, meta, elapsed), False
    if outcome.graded and answer.get("artifacts") is None:  # too large to send: graded from the answer only
        return Execution(outcome, None, meta, elapsed), False
    incoming = None
    if outcome.graded:
        incoming = run.cache.folder / f".tmp-{uuid.uuid4().hex}-in"  # cleaned by clean_stale() if we die
        unpack_artifacts(answer["artifacts"], incoming)
    try:
        return run.cache.commit(sub.sha256, outcome, incoming, meta, elapsed), True
    finally:
        if incoming is not None:
            shutil.rmtree(incoming, ignore_errors=True)


class _Stop(Exception):
    """A worker refused to run the batch (no sandbox, a broken worker set-up): the whole run stops."""


def _finish(run: Any, sub: submissions.Submission, future: Any, start: float) -> tuple[Any, bool, dict]:
    """``(GradeResult, committed to the cache, the worker's note)`` from one task's future (in a thread of
    the client's pool: unpacking a full solution's artifacts takes seconds)."""
    if future.status == "error":
        error = future.exception()
        if isinstance(error, KilledWorker):
            tries = getattr(error, "allowed_failures", None)
            detail = (
                f"stopped after {tries + 1 if tries is not None else 'several'} workers died while running it (the "
                "scheduler's allowed-failures); see the workers' logs (out of memory?)"
            )
        else:
            detail = f"the task failed on the cluster: {type(error).__name__}: {str(error)[:200]}"
        ex = Execution(oc.grader_error(detail), None)
        return run.result(sub, ex, None, start), False, {}
    if future.status != "finished":
        ex = Execution(oc.grader_error(f"the task was {future.status} on the cluster"), None)
        return run.result(sub, ex, None, start), False, {}
    answer = future.result()
    future.release()
    if "stop" in answer:
        raise _Stop(answer["stop"])
    ex, committed = _commit(run, sub, answer)
    verified = answer.get("verified")
    result = run.result(sub, ex, tuple(verified) if verified is not None else None, start)
    result.elapsed = float(answer.get("task_elapsed") or result.elapsed)  # the worker's, not the queue's
    return result, committed, {k: answer.get(k) for k in ("worker", "sandbox", "env_key")}


def _say_worker(run: Any, note: dict, seen: set[str]) -> None:
    """The first result from a worker: its sandbox, and a warning when its environment differs."""
    worker = note.get("worker")
    if not worker or worker in seen:
        return
    seen.add(worker)
    print(f"sandbox on {worker}: {note.get('sandbox')}", file=sys.stderr, flush=True)
    if note.get("env_key") != run.cache.env_key:
        print(
            f"WARNING: worker {worker}'s environment (Python, libraries, the grader's code) differs from this "
            "machine's: its executions may not match a local run; install the same versions there",
            file=sys.stderr,
            flush=True,
        )


def grade(run: Any, results: Any, gradable: list[submissions.Submission], client: Any) -> bool:
    """Grade ``gradable`` on the cluster (cache hits here); True when interrupted. Each result goes to
    ``results.add`` as it arrives."""
    hits, misses = [], {}
    for sub in gradable:
        if not run.args.force and run.cache.lookup(sub.sha256) is not None:
            hits.append(sub)
        else:
            misses.setdefault(sub.sha256, []).append(sub)
    job = _job(run) if misses else {}
    need = int(min(SUBMISSION_MEMORY, run.cache.limits.memory_bytes))
    resources: dict[str, float] = {}
    slots = 0
    if misses:  # cache hits never go to the cluster
        _wait_for_graders(client, run.args.scheduler)
        resources, slots, notes = task_resources(client.scheduler_info()["workers"], need)
        failures = allowed_failures(client)
        asks = ", ".join(f"{k}={v:g}" for k, v in resources.items())
        tries = f"{failures + 1} lost workers" if failures is not None else "the scheduler's allowed-failures"
        print(
            f"cluster {run.args.scheduler}: {len(misses)} execution(s) on {slots} grading slot(s), each task asks "
            f"{asks}; a submission is stopped after {tries}; {len(hits)} cached, re-verified here",
            file=sys.stderr,
            flush=True,
        )
        for note in notes:
            print(f"WARNING: {note}", file=sys.stderr, flush=True)
    done: queue.Queue = queue.Queue()
    pending = list(misses.values())
    inflight: dict[str, tuple[list[submissions.Submission], Any, float]] = {}
    remaining = len(gradable)
    seen_workers: set[str] = set()
    last_check = time.monotonic()

    def local(pool: ThreadPoolExecutor, sub: submissions.Submission) -> None:
        f = pool.submit(run.grade, sub)
        f.add_done_callback(lambda f: done.put(("local", f)))

    def fill() -> None:
        nonlocal slots, last_check
        if pending and time.monotonic() - last_check > 2 and len(inflight) >= max(1, slots):
            slots = task_resources(client.scheduler_info()["workers"], need)[1]  # workers come and go
            last_check = time.monotonic()
        while pending and len(inflight) < max(1, slots):
            group = pending.pop(0)
            first = group[0]
            # the notebook as JSON text: a NotebookNode would make the scheduler and each worker import
            # nbformat to unpickle it (a second of CPU each, before the first task could start)
            notebook = json.dumps(first.notebook or {})
            item = {"sha256": first.sha256, "notebook": notebook, "notebook_name": first.notebook_name}
            key = f"{TASK_PREFIX}-{first.sha256[:16]}-{uuid.uuid4().hex[:8]}"
            future = client.submit(grade_on_worker, job, item, key=key, resources=resources, pure=False)
            inflight[future.key] = (group, future, time.monotonic())
            future.add_done_callback(lambda f: done.put(("task", f)))
            results.progress.start(first.name)

    pool = ThreadPoolExecutor(max_workers=run.args.jobs)
    try:
        for sub in hits:
            local(pool, sub)
        fill()
        while remaining:
            try:
                kind, future = done.get(timeout=2)
            except queue.Empty:
                fill()
                continue
            if kind == "local":
                results.add(future.result())
                remaining -= 1
                continue
            if kind == "task":  # its slot is free: the next task goes now, the result is unpacked meanwhile
                group, _, start = inflight.pop(future.key)
                f = pool.submit(_finish, run, group[0], future, start)
                f.add_done_callback(lambda f, group=group: done.put(("finished", (group, f))))
                fill()
                continue
            group, future = future
            result, committed, note = future.result()
            _say_worker(run, note, seen_workers)
            run.executed.add(group[0].sha256)
            results.add(result)
            remaining -= 1
            for copy in group[1:]:  # the same bytes: from the cache as in a local run, else the same grade
                if committed:
                    local(pool, copy)
                else:
                    results.add(replace(result, file=copy.name))
                    remaining -= 1
            fill()
    except (KeyboardInterrupt, processes.Stopped):
        _cancel(client, inflight)
        processes.stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        return True
    except _Stop as e:
        _cancel(client, inflight)
        pool.shutdown(wait=True, cancel_futures=True)
        raise SystemExit(str(e)) from None
    pool.shutdown(wait=True)
    return False


def _cancel(client: Any, inflight: dict) -> None:
    try:
        client.cancel([future for _, future, _ in inflight.values()])
    except Exception:  # the scheduler is gone already: nothing to cancel
        pass


def _wait_for_graders(client: Any, address: str) -> None:
    """Wait until a worker offering ``grading`` is connected (a batch system may still be starting them)."""
    said = False
    while True:
        workers = client.scheduler_info()["workers"]
        if any((w.get("resources") or {}).get("grading") for w in workers.values()):
            return
        if not said:
            others = f" ({len(workers)} connected, none declares the grading resource)" if workers else ""
            print(
                f"waiting for a worker with the grading resource to join {address}{others}: start one with "
                f"`{WORKER_COMMAND.format(address=address)}` (Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
            said = True
        time.sleep(1)


# ---------------------------------------------------------------------------------------------
# Worker side
# ---------------------------------------------------------------------------------------------
class WorkerState:
    """One run's set-up in one worker process: autograder, data, plan, sandbox and verifiers."""

    def __init__(self, job: dict, folder: Path, slots: int, nthreads: int):
        from . import cli

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "autograder.zip").write_bytes(job["autograder"])
        self.autograder = cli.prepare_autograder(folder / "autograder.zip", folder)
        self.data_dir = folder / "data"
        cli.expand_data(self.data_dir)  # SystemExit naming the fix: the run stops (grade_on_worker)
        plan_path = folder / "plan.json"
        plan_path.write_text(json.dumps(job["plan"]))
        threads = job["threads"] or max(1, nthreads // max(1, slots))  # the slot's share, not the machine's
        limits = Limits(*job["limits"])
        self.verifiers = VerifyPool(
            max(1, slots), self.autograder, plan_path, cli.child_env(threads, self.data_dir), limits.memory_bytes
        )
        self.verifiers.launch()
        kernel_files = execute.kernel_files(self.autograder)
        snapshot = job["plan"]["snapshot"]
        self.settings = execute.Settings(folder / "scratch", kernel_files, self.data_dir, limits, threads, snapshot)
        self.settings.scratch.mkdir(exist_ok=True)
        self.env_key = environment_key(kernel_files, snapshot)
        hidden = [self.autograder, cli.PACKAGE, self.data_dir, folder / "tasks"]
        self.sandbox = isolation.Sandbox(job["isolation"], self.settings.scratch, hidden, job["allow_unsandboxed"])
        self.sandbox.test_in_background()

    def close(self) -> None:
        self.verifiers.close()


_STATES: dict[str, WorkerState] = {}
_STATES_LOCK = threading.Lock()


def _state(job: dict, worker: Any) -> WorkerState:
    digest = hashlib.sha256(json.dumps({k: v for k, v in job.items() if k != "autograder"}, sort_keys=True).encode())
    digest.update(job["autograder"])
    key = digest.hexdigest()[:16]
    with _STATES_LOCK:
        if key not in _STATES:
            for old in list(_STATES.values()):  # another run's: its verifiers are not needed any more
                old.close()
            _STATES.clear()
            slots = int(worker.state.total_resources.get("grading", 1))
            folder = Path(worker.local_directory) / "ds201" / key
            _STATES[key] = WorkerState(job, folder, min(slots, worker.state.nthreads), worker.state.nthreads)
        return _STATES[key]


def pack_artifacts(folder: Path, limit: int = MAX_ARCHIVE_BYTES) -> bytes | None:
    """The artifacts folder as a tar.gz, compressed fast (None when larger than ``limit`` uncompressed)."""
    if processes.folder_bytes(folder) > limit:
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def grade_on_worker(job: dict, item: dict) -> dict:
    """Execute one submission in this worker's sandbox and verify it here; return data only."""
    task_start = time.monotonic()
    worker = get_worker()
    try:
        state = _state(job, worker)
        mode = state.sandbox.mode()
    except SystemExit as e:  # no sandbox (and not allowed), a mode that does not work, no data
        return {"stop": f"worker {worker.address}: {e}"}
    answer: dict[str, Any] = {"worker": worker.address, "sandbox": state.sandbox.note, "env_key": state.env_key}
    tasks = state.folder / "tasks"
    tasks.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tasks) as tmp, _cancellation(worker) as cancelled:
        cache = Cache(Path(tmp) / "cache", state.env_key, state.settings.limits)
        try:
            notebook = json.loads(item["notebook"])
            ex = execute.execute(item["sha256"], notebook, item["notebook_name"], state.settings, mode, cache)
        except processes.Stopped:
            if cancelled.is_set():  # the client let go of it (Ctrl-C): nobody reads this answer
                return {"cancelled": True}
            raise Reschedule() from None  # this worker is closing: run it on another one
        answer.update(outcome=ex.outcome.to_json(), meta=ex.meta, elapsed=ex.elapsed)
        if ex.outcome.graded and ex.artifacts is not None:
            with state.verifiers.worker() as verifier:
                answer["verified"] = verifier.verify(ex.artifacts, job["verify_timeout"])
            answer["artifacts"] = pack_artifacts(ex.artifacts)
            if answer["artifacts"] is None:
                answer["meta"]["artifacts_too_large"] = True
    answer["task_elapsed"] = time.monotonic() - task_start
    return answer


@contextlib.contextmanager
def _cancellation(worker: Any):
    """Yields an event set once this task is no longer wanted (its client cancelled it or went away);
    meanwhile a supervised sandbox of this thread is killed when it is set."""
    key = thread_state.key
    cancelled, finished = threading.Event(), threading.Event()

    def watch() -> None:
        while not finished.wait(1):
            task = worker.state.tasks.get(key)
            if task is None or task.state in ("cancelled", "released", "forgotten"):
                cancelled.set()
                return

    threading.Thread(target=watch, name=f"ds201-cancel-{key}", daemon=True).start()
    try:
        with processes.stop_when(cancelled):
            yield cancelled
    finally:
        finished.set()


class Teardown(WorkerPlugin):
    """Worker plugin: a closing worker ends its verifiers and any sandbox still running."""

    name = "ds201-grade-teardown"

    def teardown(self, worker: Any) -> None:
        if worker.status not in (Status.closing, Status.closed):  # replaced by the next run's client, not closing
            return
        with _STATES_LOCK:
            for state in _STATES.values():
                state.close()
            _STATES.clear()
        processes.stop_all()
