"""The untrusted stage, parent side: run one submission in a sandbox and keep what it saved.

For each submission this module

1. lays out a scratch folder holding only the notebook, the data (hard links or copies of the
   run's expanded ``.npy`` files, or of ``mnist.npz``/``cifar10.npz``), ``ds201_lab1/__init__.py`` and ``ds201_lab1/data.py`` (so the
   notebook's ``from ds201_lab1.data import mnist`` works and ``ds201_lab1.checks`` does not exist)
   and the grader's stub tests, which only save values;
2. starts :mod:`.sandbox` in its own process group (and, where the OS allows, in new mount, network
   and PID namespaces), kills the whole tree at the wall-clock limit or when the tree's resident
   memory passes the cap (a psutil watchdog: TensorFlow reserves far more virtual memory than it
   uses, so ``RLIMIT_AS`` cannot be the cap);
3. moves the artifacts into ``OUT/.cache/<sha256 of the submission>-<environment key>`` after
   checking that they are plain files and folders (no symlink, nothing oversized), with large
   files deduplicated across submissions. A later run reuses that execution unless ``--force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from . import snapshot

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent.parent  # the folder holding ds201_lab1 (src/)
NOBODY = 65534
# Each running sandbox gets a user id of its own (as root), so that one notebook's processes (a fork
# storm against RLIMIT_NPROC, signals, /proc) never count against or reach another's.
SANDBOX_UIDS = range(480_000, 480_256)
_UIDS_IN_USE: set[int] = set()
_UIDS_LOCK = threading.Lock()


def acquire_uid() -> int:
    with _UIDS_LOCK:
        uid = next(u for u in SANDBOX_UIDS if u not in _UIDS_IN_USE)
        _UIDS_IN_USE.add(uid)
        return uid


def release_uid(uid: int) -> None:
    with _UIDS_LOCK:
        _UIDS_IN_USE.discard(uid)


MAX_META_BYTES = 1 * 2**20
MAX_ARTIFACT_BYTES = 16 * 2**30
DEDUPE_MIN_BYTES = 1 * 2**20
DATASETS = ("mnist", "cifar10")
VERSIONED = ("tensorflow", "keras", "otter-grader", "numpy", "nbclient", "ipykernel", "h5py")


@dataclass
class Settings:
    """What every execution of a run shares."""

    out: Path
    package_files: dict[str, Path]  # ds201_lab1 modules copied into the scratch folder
    data_dir: Path
    isolation: str  # namespaces | userns | none
    timeout: float
    memory_bytes: int
    threads: int
    cell_timeout: float | None = None
    disk_bytes: int = 8 * 2**30
    force: bool = False
    env_key: str = ""
    spec_hash: str = ""

    @property
    def cache(self) -> Path:
        return self.out / ".cache"

    @property
    def scratch(self) -> Path:
        return self.out / ".scratch"


# An execution in one of these states is graded on the values saved before it ended: the questions
# checked before a kill keep their answers, the others get nothing (the status says why).
GRADED_STATES = ("ok", "timeout", "memory", "disk", "kernel_died")


@dataclass
class Execution:
    state: str  # ok | timeout | memory | disk | kernel_died | error
    status: str  # the CSV's grading_status
    artifacts: Path | None
    meta: dict = field(default_factory=dict)
    elapsed: float = 0.0
    reused: bool = False


@dataclass
class Supervised:
    returncode: int | None
    killed: str | None  # None, "timeout", "memory" or "disk"
    elapsed: float
    peak_rss: int


# ---------------------------------------------------------------------------------------------
# Processes: wall clock and memory
# ---------------------------------------------------------------------------------------------
def _tree(pid: int) -> list[psutil.Process]:
    try:
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def clean_stale(out: Path) -> None:
    """Scratch folders and half-written cache entries under OUT left by a run that was killed."""
    for path in [*(out / ".scratch").glob("*"), *(out / ".cache").glob(".tmp-*")]:
        shutil.rmtree(path, ignore_errors=True)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process group, then every descendant still found (some start their own group)."""
    procs = _tree(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait()


_ACTIVE: set[subprocess.Popen] = set()
_ACTIVE_LOCK = threading.Lock()
STOPPING = threading.Event()


class Stopped(Exception):
    """The run is being interrupted: no new process is started."""


def track(proc: subprocess.Popen) -> None:
    """Count ``proc`` among the trees :func:`stop_all` kills (for processes not run by :func:`supervise`)."""
    with _ACTIVE_LOCK:
        _ACTIVE.add(proc)
    if STOPPING.is_set():
        kill_tree(proc)
        raise Stopped("interrupted")


def untrack(proc: subprocess.Popen) -> None:
    with _ACTIVE_LOCK:
        _ACTIVE.discard(proc)


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (not following links)."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def stop_all() -> None:
    """Kill every supervised process tree now (Ctrl-C); no new one starts afterwards."""
    STOPPING.set()
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE)
    for proc in procs:
        kill_tree(proc)


def supervise(
    cmd: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    memory_bytes: int,
    log: Path,
    poll: float = 0.1,
    disk: tuple[Path, int] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> Supervised:
    """Run ``cmd`` in its own process group; kill the whole tree at ``timeout`` s, ``memory_bytes`` RSS,
    or (``disk=(folder, bytes)``) when the files under ``folder`` pass ``bytes``."""
    next_disk_check = 0.0
    start = time.monotonic()
    with _ACTIVE_LOCK:
        if STOPPING.is_set():
            raise Stopped("interrupted")
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        _ACTIVE.add(proc)
    killed, peak = None, 0
    try:
        while True:
            try:
                proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                pass
            if timeout and time.monotonic() - start > timeout:
                killed = "timeout"
            else:
                rss = tree_rss(proc.pid)
                peak = max(peak, rss)
                if memory_bytes and rss > memory_bytes:
                    killed = "memory"
                elif disk and time.monotonic() > next_disk_check:
                    next_disk_check = time.monotonic() + 2
                    if folder_bytes(disk[0]) > disk[1]:
                        killed = "disk"
            if killed:
                kill_tree(proc)
                break
    except BaseException:
        kill_tree(proc)
        raise
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(proc)
    if STOPPING.is_set():
        raise Stopped("interrupted")
    return Supervised(proc.returncode, killed, time.monotonic() - start, peak)


# ---------------------------------------------------------------------------------------------
# Isolation: what this machine allows
# ---------------------------------------------------------------------------------------------
def worker_command(isolation: str, spec: Path, selftest: bool = False) -> list[str]:
    py = [sys.executable, "-m", "ds201_lab1.grade.sandbox", *(["--selftest"] if selftest else []), str(spec)]
    ns = ["--mount", "--net", "--pid", "--fork", "--kill-child"]
    if isolation == "namespaces":
        return ["unshare", *ns, *py]
    if isolation == "userns":
        return ["unshare", "--user", "--map-root-user", *ns, *py]
    return py


def worker_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PACKAGE_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def detect_isolation(requested: str, workroot: Path, must_be_hidden: list[Path]) -> tuple[str, str]:
    """``(mode, note)``: the strongest of namespaces/userns/none that works and hides ``must_be_hidden``."""
    if requested == "none":
        return "none", "isolation disabled (--isolation none)"
    candidates = [requested] if requested != "auto" else (["namespaces", "userns"] if os.geteuid() == 0 else ["userns"])
    notes = []
    for mode in candidates:
        if shutil.which("unshare") is None:
            notes.append("unshare(1) not found")
            break
        folder = Path(tempfile.mkdtemp(prefix="selftest-", dir=workroot))
        try:
            for sub in ("root", "data", "work"):
                (folder / sub).mkdir()
            if mode == "namespaces":
                os.chown(folder / "work", SANDBOX_UIDS[-1], SANDBOX_UIDS[-1])
            spec = {
                "isolation": mode,
                "uid": SANDBOX_UIDS[-1],
                "root": str(folder / "root"),
                "data": str(folder / "data"),
                "work": str(folder / "work"),
                "tmp": "/tmp",
                "must_be_hidden": [str(p) for p in must_be_hidden],
            }
            (folder / "spec.json").write_text(json.dumps(spec))
            proc = subprocess.run(
                worker_command(mode, folder / "spec.json", selftest=True),
                env=worker_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if proc.returncode != 0:
                notes.append(f"{mode}: {(proc.stderr.strip().splitlines() or ['failed'])[-1][:200]}")
                continue
            seen = json.loads(proc.stdout.strip().splitlines()[-1])
            if seen["visible"] or seen["network"]:
                notes.append(f"{mode}: still sees {seen['visible']} / network {seen['network']}")
                continue
            return mode, f"{mode}: mount+net+pid namespaces, new root, uid {seen['uid']}"
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            notes.append(f"{mode}: {type(e).__name__}: {e}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if requested not in ("auto", "none"):
        raise SystemExit(f"--isolation {requested} does not work here: {'; '.join(notes)}")
    return "none", "no isolation (" + "; ".join(notes) + ")"


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------
def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def environment_key(package_files: dict[str, Path]) -> str:
    """Python and library versions, the data loader and the executor's code: what changes an execution."""
    h = hashlib.sha256()
    h.update(sys.version.encode())
    for dist in VERSIONED:
        h.update(f"{dist}={_version(dist)}\n".encode())
    for path in [*(package_files[k] for k in sorted(package_files)), HERE / "snapshot.py", HERE / "sandbox.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def snapshot_spec(plan: dict) -> dict:
    """What the kernel side needs: the probes and the files per question (not secret)."""
    return {"probes": plan["probes"], "files": {q: info["files"] for q, info in plan["questions"].items()}}


def spec_hash(plan: dict) -> str:
    names = {q: [info["names"], info["files"]] for q, info in plan["questions"].items()}
    text = json.dumps([names, plan["probes"]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The scratch folder
# ---------------------------------------------------------------------------------------------


def _link_or_copy(src: Path, dest: Path) -> None:
    world_readable = src.stat().st_mode & 0o004
    try:
        if not world_readable:
            raise OSError("not world-readable")
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        dest.chmod(0o644)


def prepare_scratch(
    folder: Path, notebook: dict, notebook_name: str, plan: dict, settings: Settings, uid: int = NOBODY
) -> dict:
    """Lay out ``folder`` and return the worker's spec."""
    import nbformat

    work, data, root = folder / "work", folder / "data", folder / "root"
    for d in (work, data, root):
        d.mkdir()
    name = notebook_name if re.fullmatch(r"[\w .()+-]{1,100}\.ipynb", notebook_name) else "submission.ipynb"
    (work / name).write_text(nbformat.writes(nbformat.from_dict(notebook)))
    pkg = work / "ds201_lab1"
    pkg.mkdir()
    for fname, src in settings.package_files.items():
        shutil.copyfile(src, pkg / fname)
    grader = work / "_ds201"
    tests, artifacts = grader / "tests", grader / "artifacts"
    tests.mkdir(parents=True)
    artifacts.mkdir()
    shutil.copyfile(HERE / "snapshot.py", grader / "snapshot.py")
    (grader / "spec.json").write_text(json.dumps(snapshot_spec(plan)))
    stubs = []
    for q, info in plan["questions"].items():
        params = [p for p in info["names"] if p.isidentifier()]
        values = "{" + ", ".join(f"{p!r}: {p}" for p in params) + "}"
        path = tests / info["test"]
        path.write_text(
            snapshot.STUB_TEST.format(
                name=q,
                params=", ".join(params),
                values=values,
                helper=str(grader / "snapshot.py"),
                spec=str(grader / "spec.json"),
                out=str(artifacts),
            )
        )
        stubs.append(str(path))
    for dataset in DATASETS:  # the expanded .npy folders (memory-mapped by the loader) and the .npz
        expanded, npz = settings.data_dir / dataset, settings.data_dir / f"{dataset}.npz"
        if expanded.is_dir():
            (data / dataset).mkdir()
            for array in sorted(expanded.glob("*.npy")):
                _link_or_copy(array, data / dataset / array.name)
        if npz.is_file():
            _link_or_copy(npz.resolve(), data / npz.name)
    as_nobody = os.geteuid() == 0 and settings.isolation == "namespaces"
    if as_nobody:
        for dirpath, dirnames, filenames in os.walk(work):
            for n in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
                os.lchown(n, uid, uid)
    tmp = "/tmp" if settings.isolation != "none" else str(folder / "tmp")
    threads = str(settings.threads)
    return {
        "isolation": settings.isolation,
        "root": str(root),
        "data": str(data),
        "work": str(work),
        "tmp": tmp,
        "notebook": name,
        "tests_dir": str(tests),
        "tests": sorted(stubs),
        "meta": str(folder / "meta.json"),  # outside the sandbox: the worker writes it through an fd
        "uid": uid,
        "cell_timeout": settings.cell_timeout,
        "max_processes": 1024,
        "max_file_bytes": 4 * 2**30,
        "kernel_env": {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "DS201_DATA_DIR": str(data),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": threads,
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    }


# ---------------------------------------------------------------------------------------------
# Reading what the sandbox left (untrusted)
# ---------------------------------------------------------------------------------------------
def read_meta(path: Path) -> dict:
    try:
        st = path.lstat()
    except OSError:
        return {}
    if not path.is_file() or path.is_symlink() or st.st_size > MAX_META_BYTES:
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}

    def where(x: Any) -> dict | None:
        if not isinstance(x, dict):
            return None
        cell = x.get("cell")
        return {
            "cell": cell if isinstance(cell, int) and not isinstance(cell, bool) else None,
            "line": str(x.get("line", ""))[:80],
            "ename": str(x.get("ename", ""))[:100],
        }

    def places(key: str) -> list[dict]:
        items = raw.get(key) if isinstance(raw.get(key), list) else []
        return [w for w in (where(e) for e in items[:200]) if w]

    return {
        "errors": places("errors"),
        "cell_timeouts": places("cell_timeouts"),
        "kernel_died": raw.get("kernel_died") is True,
        "completed": raw.get("completed") is True,
        "running": where(raw.get("running")),
        "worker_error": str(raw["worker_error"])[:500] if raw.get("worker_error") else None,
    }


def sanitize_tree(folder: Path, limit: int = MAX_ARTIFACT_BYTES) -> list[str]:
    """Keep only plain folders and regular files with plain names; return what was removed."""
    removed, total = [], 0
    uid = os.geteuid()
    if uid == 0:
        os.lchown(folder, 0, 0)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in list(dirnames) + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            ok = (path.is_dir() and not path.is_symlink()) or (path.is_file() and not path.is_symlink())
            ok = ok and all(c.isalnum() or c in "_.-" for c in name) and name not in (".", "..")
            if ok and path.is_file():
                total += st.st_size
                ok = total <= limit
            if not ok:
                removed.append(str(path.relative_to(folder)))
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                    dirnames.remove(name)
                else:
                    path.unlink(missing_ok=True)
            elif uid == 0:
                os.lchown(path, 0, 0)
    return removed


def dedupe(folder: Path, objects: Path) -> None:
    """Replace large files by hard links into a content-addressed store shared by all submissions."""
    objects.mkdir(parents=True, exist_ok=True)
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size < DEDUPE_MIN_BYTES:
            continue
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(2**22), b""):
                h.update(chunk)
        stored = objects / h.hexdigest()
        try:
            if stored.exists():
                tmp = path.with_name(path.name + ".link")
                os.link(stored, tmp)
                os.replace(tmp, path)
            else:
                os.link(path, stored)
            path.chmod(0o444)
        except OSError:
            pass  # another filesystem or a race: keep the plain file


# ---------------------------------------------------------------------------------------------
# One submission
# ---------------------------------------------------------------------------------------------
def _where(meta: dict) -> str:
    running = meta.get("running") or {}
    return f" (cell {running['cell'] + 1})" if running.get("cell") is not None else ""


def cache_dir(settings: Settings, sha256: str) -> Path:
    return settings.cache / f"{sha256}-{settings.env_key}"


def cached(settings: Settings, sha256: str) -> Execution | None:
    """A previous execution of the same bytes in the same environment, if it still answers."""
    folder = cache_dir(settings, sha256)
    try:
        record = json.loads((folder / "execution.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("spec_hash") != settings.spec_hash:
        return None  # the tests now take other values than this execution saved
    if record["state"] == "timeout" and record.get("timeout", 0) < settings.timeout:
        return None
    if record["state"] == "memory" and record.get("memory_bytes", 0) < settings.memory_bytes:
        return None
    if record["state"] == "disk" and record.get("disk_bytes", 0) < settings.disk_bytes:
        return None
    inf = float("inf")
    if record.get("meta", {}).get("cell_timeouts") and (settings.cell_timeout or inf) > (
        record.get("cell_timeout") or inf
    ):
        return None
    artifacts = folder / "artifacts"
    return Execution(
        record["state"],
        record["status"],
        artifacts if artifacts.is_dir() else None,
        record.get("meta", {}),
        record.get("elapsed", 0.0),
        reused=True,
    )


def execute(
    sha256: str, notebook: dict, notebook_name: str, plan: dict, settings: Settings, force: bool | None = None
) -> Execution:
    """Run the notebook (or reuse its cached execution) and return what happened."""
    if not (settings.force if force is None else force):
        hit = cached(settings, sha256)
        if hit is not None:
            return hit
    settings.scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{sha256[:12]}-", dir=settings.scratch))
    uid = acquire_uid()
    meta_fd = -1
    try:
        spec = prepare_scratch(folder, notebook, notebook_name, plan, settings, uid)
        if settings.isolation == "none":
            Path(spec["tmp"]).mkdir()
        # The worker's notes go through a file descriptor to a file the sandbox cannot see: the
        # kernel (same user) can neither replace nor lock that file, nor reach the worker's fds.
        meta_fd = os.open(spec["meta"], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        spec["meta_fd"] = meta_fd
        (folder / "spec.json").write_text(json.dumps(spec))
        (folder / "spec.json").chmod(0o600)
        run = supervise(
            worker_command(settings.isolation, folder / "spec.json"),
            env=worker_env(),
            cwd=folder,
            timeout=settings.timeout,
            memory_bytes=settings.memory_bytes,
            log=folder / "worker.log",
            disk=(Path(spec["work"]), settings.disk_bytes),
            pass_fds=(meta_fd,),
        )
        meta = read_meta(Path(spec["meta"]))
        meta["peak_rss"] = run.peak_rss
        saved = f"{_where(meta)}; graded on the answers saved before"
        if run.killed == "timeout":
            state, status = "timeout", f"timeout after {settings.timeout:g} s{saved}"
        elif run.killed == "memory":
            state, status = "memory", f"memory limit {settings.memory_bytes / 2**30:g} GiB exceeded{saved}"
        elif run.killed == "disk":
            state, status = "disk", f"disk limit {settings.disk_bytes / 2**30:g} GiB exceeded{saved}"
        elif meta.get("kernel_died"):
            state, status = "kernel_died", f"kernel died (os._exit?){saved}"
        elif meta.get("completed") and run.returncode == 0:
            state, status = "ok", _ok_status(meta, settings)
        else:
            tail = _log_tail(folder / "worker.log")
            why = meta.get("worker_error") or f"worker exited with code {run.returncode}: {tail}"
            return Execution("error", f"grader error: {why}"[:300], None, meta, run.elapsed)
        name = ((notebook.get("metadata") or {}).get("otter") or {}).get("assignment_name")
        return _commit(settings, sha256, folder, spec, state, status, meta, run.elapsed, name)
    finally:
        if meta_fd >= 0:
            os.close(meta_fd)
        release_uid(uid)
        shutil.rmtree(folder, ignore_errors=True)


def _cell_name(place: dict) -> str:
    return f"cell {place['cell'] + 1}" if place.get("cell") is not None else "a grader cell"


def _ok_status(meta: dict, settings: Settings) -> str:
    """``ok``, or what went wrong in a cell while the notebook still ran to its end (it is graded)."""
    if meta.get("cell_timeouts"):
        first = meta["cell_timeouts"][0]
        return f"{_cell_name(first)} stopped after {settings.cell_timeout:g} s (cell timeout); the other answers graded"
    oom = [e for e in meta.get("errors", []) if e.get("ename") == "MemoryError"]
    if oom:  # the OS refused an allocation
        return f"memory error in {_cell_name(oom[0])} (MemoryError); the other answers graded"
    return "ok"


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-300:]


def _commit(
    settings: Settings,
    sha256: str,
    folder: Path,
    spec: dict,
    state: str,
    status: str,
    meta: dict,
    elapsed: float,
    assignment_name: str | None,
) -> Execution:
    final = cache_dir(settings, sha256)
    tmp = settings.cache / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    if state in GRADED_STATES:
        source = Path(spec["work"]) / "_ds201" / "artifacts"
        if source.is_dir() and not source.is_symlink():
            os.rename(source, tmp / "artifacts")
            meta["removed"] = sanitize_tree(tmp / "artifacts")[:50]
            dedupe(tmp / "artifacts", settings.cache / "objects")
        else:
            (tmp / "artifacts").mkdir()
    shutil.copyfile(folder / "worker.log", tmp / "worker.log") if (folder / "worker.log").is_file() else None
    record = {
        "state": state,
        "status": status,
        "elapsed": round(elapsed, 2),
        "meta": meta,
        "assignment_name": assignment_name,
        "timeout": settings.timeout,
        "cell_timeout": settings.cell_timeout,
        "memory_bytes": settings.memory_bytes,
        "disk_bytes": settings.disk_bytes,
        "spec_hash": settings.spec_hash,
        "isolation": settings.isolation,
    }
    (tmp / "execution.json").write_text(json.dumps(record, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    artifacts = final / "artifacts"
    return Execution(state, status, artifacts if artifacts.is_dir() else None, meta, elapsed)
