"""The untrusted stage, parent side: run one submission in a sandbox and keep what it saved.

For each submission this module

1. lays out a scratch folder holding only the notebook, the data (hard links or copies of the
   run's expanded ``.npy`` files, or of ``mnist.npz``/``cifar10.npz``), the modules the notebook may
   import (``ds201_lab1/__init__.py`` and ``data.py``, never the checks) and the grader's stub tests,
   which only save values (:mod:`.snapshot`);
2. runs :mod:`.sandbox` under :func:`.processes.supervise` (its own process group and, where the
   machine allows, its own :mod:`.cgroups` group capping its CPU to the slot's threads; killed whole
   at the wall-clock, memory or disk limit) in the mode :mod:`.isolation` chose;
3. turns what happened into an :class:`.Outcome` and hands the *sealed* artifacts (what each check
   saved, copied out of the kernel's reach right after its cell: :class:`.sandbox.Sealer`) to the
   :mod:`.cache`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import KERNEL_MODULES, data
from . import cgroups, isolation, processes, snapshot
from . import outcome as oc
from .cache import Cache, Execution, Limits
from .outcome import Outcome

HERE = Path(__file__).resolve().parent
MAX_META_BYTES = 1 * 2**20


@dataclass
class Settings:
    """What every execution of a run shares."""

    scratch: Path
    kernel_files: dict[str, Path]  # the ds201_lab1 modules the notebook may import
    data_dir: Path
    limits: Limits
    threads: int
    snapshot_spec: dict  # what each question's stub saves (values, probes, files)


def kernel_files(autograder: Path) -> dict[str, Path]:
    """The modules the notebook may import: the autograder's copies when it ships them."""
    shipped, own = autograder / "files" / "ds201_lab1", Path(data.__file__).parent
    return {name: (shipped / name if (shipped / name).is_file() else own / name) for name in KERNEL_MODULES}


def prepare_scratch(folder: Path, notebook: dict, notebook_name: str, settings: Settings, mode: str, uid: int) -> dict:
    """Lay out ``folder`` and return the worker's spec."""
    import nbformat

    work, data_dir, root = folder / "work", folder / "data", folder / "root"
    for d in (work, data_dir, root):
        d.mkdir()
    name = notebook_name if re.fullmatch(r"[\w .()+-]{1,100}\.ipynb", notebook_name) else "submission.ipynb"
    (work / name).write_text(nbformat.writes(nbformat.from_dict(notebook)))
    pkg = work / "ds201_lab1"
    pkg.mkdir()
    for fname, src in settings.kernel_files.items():
        shutil.copyfile(src, pkg / fname)
    grader = work / "_ds201"
    tests, artifacts = grader / "tests", grader / "artifacts"
    tests.mkdir(parents=True)
    artifacts.mkdir()
    shutil.copyfile(HERE / "snapshot.py", grader / "snapshot.py")
    (grader / "spec.json").write_text(json.dumps(settings.snapshot_spec))
    stubs = []
    for q, names in settings.snapshot_spec["values"].items():
        params = [p for p in names if p.isidentifier()]
        path = tests / f"{q}.py"
        path.write_text(
            snapshot.STUB_TEST.format(
                name=q,
                params=", ".join(params),
                values="{" + ", ".join(f"{p!r}: {p}" for p in params) + "}",
                helper=str(grader / "snapshot.py"),
                spec=str(grader / "spec.json"),
                out=str(artifacts),
            )
        )
        stubs.append(str(path))
    for dataset in data.LAYOUT:  # the expanded .npy folders (memory-mapped by the loader) and the .npz
        expanded, npz = settings.data_dir / dataset, settings.data_dir / f"{dataset}.npz"
        if expanded.is_dir():
            (data_dir / dataset).mkdir()
            for array in sorted(expanded.glob("*.npy")):
                data.link_or_copy(array, data_dir / dataset / array.name)
        if npz.is_file():
            data.link_or_copy(npz.resolve(), data_dir / npz.name)
    if os.geteuid() == 0 and mode == "namespaces":  # the notebook runs as this sandbox's own user
        for dirpath, dirnames, filenames in os.walk(work):
            for n in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
                os.lchown(n, uid, uid)
    threads = str(settings.threads)
    return {
        "isolation": mode,
        "root": str(root),
        "data": str(data_dir),
        "work": str(work),
        "tmp": "/tmp" if mode != "none" else str(folder / "tmp"),
        "notebook": name,
        "tests_dir": str(tests),
        "tests": sorted(stubs),
        "artifacts": str(artifacts),
        "max_sealed_bytes": settings.limits.disk_bytes,
        "uid": uid,
        "cell_timeout": settings.limits.cell_timeout,
        "max_processes": 1024,
        "max_file_bytes": 4 * 2**30,
        "kernel_env": {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "DS201_DATA_DIR": str(data_dir),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": threads,
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    }


def read_meta(path: Path) -> dict:
    """The worker's notes (untrusted: written by a process of the sandbox), checked and trimmed."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_META_BYTES:
            return {}
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

    seconds = raw.get("seconds") if isinstance(raw.get("seconds"), dict) else {}
    return {
        "seconds": {
            str(k)[:40]: float(v)
            for k, v in list(seconds.items())[:10]
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e7
        },
        "errors": places("errors"),
        "cell_timeouts": places("cell_timeouts"),
        "kernel_died": raw.get("kernel_died") is True,
        "completed": raw.get("completed") is True,
        "running": where(raw.get("running")),
        "worker_error": str(raw["worker_error"])[:500] if raw.get("worker_error") else None,
    }


def _outcome(run: processes.Supervised, meta: dict, limits: Limits, log: Path) -> Outcome:
    running = (meta.get("running") or {}).get("cell")
    if run.killed == "timeout":
        return Outcome(oc.TIMEOUT, f"{limits.timeout:g} s", running)
    if run.killed == "memory":
        return Outcome(oc.MEMORY, f"{limits.memory_bytes / 2**30:g} GiB", running)
    if run.killed == "disk":
        return Outcome(oc.DISK, f"{limits.disk_bytes / 2**30:g} GiB", running)
    if meta.get("kernel_died"):
        return Outcome(oc.KERNEL_DIED, "", running)
    if not (meta.get("completed") and run.returncode == 0):
        why = meta.get("worker_error") or f"worker exited with code {run.returncode}: {processes.log_tail(log)}"
        return oc.grader_error(why)
    if meta.get("cell_timeouts"):
        return Outcome(oc.CELL_TIMEOUT, f"{limits.cell_timeout:g} s", meta["cell_timeouts"][0]["cell"])
    oom = [e for e in meta.get("errors", []) if e.get("ename") == "MemoryError"]
    if oom:  # the OS refused an allocation; the notebook went on
        return Outcome(oc.MEMORY_ERROR, "", oom[0]["cell"])
    return Outcome(oc.OK)


def execute(sha256: str, notebook: dict, notebook_name: str, settings: Settings, mode: str, cache: Cache) -> Execution:
    """Run the notebook in the sandbox (``mode``) and commit what it saved to ``cache``."""
    settings.scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{sha256[:12]}-", dir=settings.scratch))
    uid = isolation.acquire_uid()
    meta_fd = sealed_fd = -1
    group = None
    began = time.monotonic()
    try:
        spec = prepare_scratch(folder, notebook, notebook_name, settings, mode, uid)
        prepared = time.monotonic() - began
        if mode == "none":
            Path(spec["tmp"]).mkdir()
        # The worker's notes go through a file descriptor to a file the sandbox cannot see: the
        # kernel (same user) can neither replace nor lock that file, nor reach the worker's fds.
        meta_path = folder / "meta.json"
        meta_fd = os.open(meta_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        spec["meta_fd"] = meta_fd
        # What each check saved is copied there by the worker, out of the kernel's reach.
        sealed = folder / "sealed"
        sealed.mkdir(mode=0o700)
        if os.geteuid() == 0 and mode == "namespaces":
            os.chown(sealed, uid, uid)
        sealed_fd = os.open(sealed, os.O_RDONLY | os.O_DIRECTORY)
        spec["sealed_fd"] = sealed_fd
        limits = settings.limits
        try:
            group = cgroups.create(settings.threads, 2 * limits.memory_bytes, int(spec["max_processes"]) + 64)
        except OSError as e:  # the machine stopped letting us make one: run without, and say so
            print(f"cgroups: could not make a group ({e}); this execution runs without", file=sys.stderr)
        if group is None:  # no cgroup to cap the CPU rate: each process gets the CPU time of the slot
            spec["cpu_seconds"] = int(limits.timeout * settings.threads) + 60 if limits.timeout else None
        (folder / "spec.json").write_text(json.dumps(spec))
        (folder / "spec.json").chmod(0o600)
        run = processes.supervise(
            isolation.worker_command(mode, folder / "spec.json"),
            env=isolation.worker_env(),
            cwd=folder,
            timeout=limits.timeout,
            memory_bytes=limits.memory_bytes,
            log=folder / "worker.log",
            disk=(Path(spec["work"]), limits.disk_bytes),
            pass_fds=(meta_fd, sealed_fd),
            group=group,
        )
        meta = read_meta(meta_path)
        meta["peak_rss"] = run.peak_rss
        meta["seconds"] = {"prepare": round(prepared, 2), "worker": round(run.elapsed, 2), **meta.get("seconds", {})}
        result = _outcome(run, meta, limits, folder / "worker.log")
        if result.kind == oc.GRADER_ERROR:  # not the submission's doing: never cached, tried again next run
            return Execution(result, None, meta, run.elapsed)
        for partial in [*sealed.glob("*.tmp"), *sealed.glob("models/*.tmp")]:  # a copy cut short by a kill
            shutil.rmtree(partial, ignore_errors=True)
        committing = time.monotonic()
        ex = cache.commit(sha256, result, sealed if result.graded else None, meta, run.elapsed)
        meta["seconds"]["commit"] = round(time.monotonic() - committing, 2)
        return ex
    finally:
        for fd in (meta_fd, sealed_fd):
            if fd >= 0:
                os.close(fd)
        if group is not None:
            group.remove()
        isolation.release_uid(uid)
        shutil.rmtree(folder, ignore_errors=True)
