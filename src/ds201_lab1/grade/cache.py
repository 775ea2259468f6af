"""The executions cache: ``OUT/.cache/<sha256 of the submission>-<environment key>``.

An entry holds what one execution left (its checked artifacts and ``execution.json``). It answers
for the same bytes in the same environment (Python, the libraries, the executor's code, and what
the tests ask the kernel to save) unless the execution was stopped by a limit that is now looser.
Entries are written under a temporary name and renamed, so a killed run leaves no half entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import outcome as oc
from .outcome import Outcome

HERE = Path(__file__).resolve().parent
MAX_ARTIFACT_BYTES = 16 * 2**30
VERSIONED = ("tensorflow", "keras", "otter-grader", "numpy", "nbclient", "ipykernel", "h5py")


@dataclass
class Execution:
    outcome: Outcome
    artifacts: Path | None  # the checked artifacts, when the outcome is graded
    meta: dict = field(default_factory=dict)  # the worker's notes (errors per cell, peak memory …)
    elapsed: float = 0.0
    reused: bool = False


@dataclass(frozen=True)
class Limits:
    """The limits an execution ran under: a stopped execution is re-run when they are looser now."""

    timeout: float
    memory_bytes: int
    disk_bytes: int
    cell_timeout: float | None

    def looser_than(self, record: dict, kind: str) -> bool:
        if kind == oc.TIMEOUT:
            return record.get("timeout", 0) < self.timeout
        if kind == oc.MEMORY:
            return record.get("memory_bytes", 0) < self.memory_bytes
        if kind == oc.DISK:
            return record.get("disk_bytes", 0) < self.disk_bytes
        if kind == oc.CELL_TIMEOUT:
            inf = float("inf")
            return (self.cell_timeout or inf) > (record.get("cell_timeout") or inf)
        return False


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def environment_key(kernel_files: dict[str, Path], snapshot_spec: dict) -> str:
    """What changes an execution: Python and library versions, the modules the kernel gets, the
    executor's code and what the tests ask the kernel to save."""
    h = hashlib.sha256()
    h.update(sys.version.encode())
    for dist in VERSIONED:
        h.update(f"{dist}={_version(dist)}\n".encode())
    for path in [*(kernel_files[k] for k in sorted(kernel_files)), HERE / "snapshot.py", HERE / "sandbox.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    h.update(json.dumps(snapshot_spec, sort_keys=True).encode())
    return h.hexdigest()[:16]


class Cache:
    def __init__(self, folder: Path, env_key: str, limits: Limits):
        self.folder, self.env_key, self.limits = folder, env_key, limits

    def entry(self, sha256: str) -> Path:
        return self.folder / f"{sha256}-{self.env_key}"

    def lookup(self, sha256: str) -> Execution | None:
        """A previous execution of the same bytes in the same environment, if it still answers."""
        folder = self.entry(sha256)
        try:
            record = json.loads((folder / "execution.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        result = Outcome.from_json(record.get("outcome"))
        if self.limits.looser_than(record, result.kind):
            return None
        artifacts = folder / "artifacts"
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        return Execution(result, artifacts if artifacts.is_dir() else None, meta, record.get("elapsed", 0.0), True)

    def commit(self, sha256: str, result: Outcome, artifacts: Path | None, meta: dict, elapsed: float) -> Execution:
        """Move ``artifacts`` (checked: plain files only) into a new entry; return the execution."""
        final = self.entry(sha256)
        tmp = self.folder / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        if result.graded:
            if artifacts is not None and artifacts.is_dir() and not artifacts.is_symlink():
                os.rename(artifacts, tmp / "artifacts")
                meta["removed"] = sanitize_tree(tmp / "artifacts")[:50]
            else:
                (tmp / "artifacts").mkdir()
        record: dict[str, Any] = {
            "outcome": result.to_json(),
            "elapsed": round(elapsed, 2),
            "meta": meta,
            "timeout": self.limits.timeout,
            "cell_timeout": self.limits.cell_timeout,
            "memory_bytes": self.limits.memory_bytes,
            "disk_bytes": self.limits.disk_bytes,
        }
        (tmp / "execution.json").write_text(json.dumps(record, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        kept = final / "artifacts"
        return Execution(result, kept if kept.is_dir() else None, meta, elapsed)

    def clean_stale(self) -> None:
        """Half-written entries left by a run that was killed."""
        for path in self.folder.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)

    def has_entries(self) -> bool:
        return any(self.folder.glob("*/execution.json"))


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
