"""One control group per sandbox, where the machine lets the grader make one.

A group caps a submission's CPU (``cpu.max`` / ``cpu.cfs_quota_us``: as many cores as the slot's
threads; its weight against the machine's other processes is that of its threads plus one), its
processes (``pids.max``) and, as a backstop to the supervisor's polling, its memory (a hard limit
at twice the cap). Its memory is *counted* from the group: anonymous memory plus
shared memory (``anon``/``rss`` + ``shmem`` in ``memory.stat``), so System V and POSIX shared
memory and tmpfs files count against the cap as the resident memory of the tree never did;
reclaimable file cache (the data files read, the files written) does not count. At the end of an
execution every process still in the group is killed and the group removed; a run also removes the
groups that a killed grader left (:func:`sweep_stale`).

cgroup v2 is used when its ``memory``, ``cpu`` and ``pids`` controllers can be enabled below the
grader's own group; else the v1 hierarchies of those controllers (as on this machine); else none
(:func:`available` says why): then the worker gets ``RLIMIT_CPU`` instead and shared memory is only
bounded by the sizes the sandbox gives it (see README).
"""

from __future__ import annotations

import itertools
import math
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "cpu", "pids")
PREFIX = "ds201-"
PERIOD_US = 100_000
_counter = itertools.count()
_state: dict[str, object] = {}
_lock = threading.Lock()


def _mounts() -> list[tuple[str, str, set[str]]]:
    """``(mount point, fstype, super options)`` of every cgroup mount."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, rfields = left.split(), right.split()
                if len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
                    out.append((fields[4].replace("\\040", " "), rfields[0], set(rfields[2].split(","))))
    except OSError:
        pass
    return out


def _own_paths() -> dict[str, str]:
    """Controller (``""`` for v2) -> this process's group path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, names, path = line.rstrip("\n").split(":", 2)
                for name in names.split(",") if names else [""]:
                    out[name] = path
    except (OSError, ValueError):
        pass
    return out


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


@dataclass
class Backend:
    version: int
    bases: dict[str, Path]  # controller -> the folder our groups go in (v2: one folder for all)


def _try_v2(mounts, own) -> tuple[Backend | None, str]:
    point = next((m for m, t, _ in mounts if t == "cgroup2"), None)
    if point is None:
        return None, "no cgroup v2 mount"
    here = Path(point + own.get("", "/"))
    try:
        available = set((here / "cgroup.controllers").read_text().split())
    except OSError as e:
        return None, f"cgroup v2: {e}"
    if not set(CONTROLLERS) <= available:
        return None, f"cgroup v2 lacks {sorted(set(CONTROLLERS) - available)} (held by v1 hierarchies?)"
    base = here / f"{PREFIX}grader"
    try:
        base.mkdir(exist_ok=True)
        _write(here / "cgroup.subtree_control", " ".join("+" + c for c in CONTROLLERS))
        _write(base / "cgroup.subtree_control", " ".join("+" + c for c in CONTROLLERS))
    except OSError as e:
        return None, f"cgroup v2: cannot delegate {CONTROLLERS} below {here}: {e.strerror}"
    return Backend(2, dict.fromkeys(CONTROLLERS, base)), f"cgroup v2 under {base}"


def _try_v1(mounts, own) -> tuple[Backend | None, str]:
    bases: dict[str, Path] = {}
    for controller in CONTROLLERS:
        point = next((m for m, t, opts in mounts if t == "cgroup" and controller in opts), None)
        if point is None:
            return None, f"no cgroup v1 {controller} hierarchy"
        base = Path(point + own.get(controller, "/"))
        probe = base / f"{PREFIX}probe-{os.getpid()}"
        try:
            probe.mkdir(exist_ok=True)
            probe.rmdir()
        except OSError as e:
            return None, f"cgroup v1 {controller}: cannot create a group in {base}: {e.strerror}"
        bases[controller] = base
    return Backend(1, bases), "cgroup v1 (" + ", ".join(f"{c} {b}" for c, b in bases.items()) + ")"


def available() -> tuple[Backend | None, str]:
    """The cgroup flavour this machine lets the grader use, once per process, and a note saying so."""
    with _lock:
        if "backend" not in _state:
            if os.environ.get("DS201_NO_CGROUPS"):
                found, note = None, "disabled by DS201_NO_CGROUPS"
            elif os.geteuid() != 0:
                found, note = None, "not root"
            else:
                mounts, own = _mounts(), _own_paths()
                found, note = _try_v2(mounts, own)
                if found is None:
                    found, why = _try_v1(mounts, own)
                    note = why if found else f"{note}; {why}"
            _state["backend"], _state["note"] = found, note
        return _state["backend"], str(_state["note"])  # type: ignore[return-value]


class Group:
    """One sandbox's group (in each v1 hierarchy, or one v2 folder)."""

    def __init__(self, backend: Backend, name: str):
        self.backend = backend
        self.dirs = {c: backend.bases[c] / name for c in CONTROLLERS}
        for d in set(self.dirs.values()):
            d.mkdir()

    @property
    def procs_files(self) -> list[Path]:
        """Where a process writes its pid to join the group."""
        return [d / "cgroup.procs" for d in dict.fromkeys(self.dirs.values())]

    def limit(self, cpus: float | None, memory_bytes: int | None, pids: int | None) -> None:
        v2 = self.backend.version == 2
        if cpus:
            # At most ``cpus`` cores; and, competing with the machine's other processes, the weight of
            # its threads plus the worker (a group weighs one default task unless told otherwise).
            quota, weight = max(1000, int(cpus * PERIOD_US)), math.ceil(cpus) + 1
            if v2:
                _write(self.dirs["cpu"] / "cpu.max", f"{quota} {PERIOD_US}")
                _write(self.dirs["cpu"] / "cpu.weight", str(100 * weight))
            else:
                _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(PERIOD_US))
                _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(quota))
                _write(self.dirs["cpu"] / "cpu.shares", str(1024 * weight))
        if memory_bytes:
            _write(self.dirs["memory"] / ("memory.max" if v2 else "memory.limit_in_bytes"), str(memory_bytes))
        if pids:
            _write(self.dirs["pids"] / "pids.max", str(pids))

    def _stat(self, path: Path) -> dict[str, int]:
        out = {}
        try:
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if value.strip().isdigit():
                    out[key] = int(value)
        except OSError:
            pass
        return out

    def memory(self) -> int:
        """Anonymous + shared memory (tmpfs, System V and POSIX shm) of the group, in bytes."""
        stat = self._stat(self.dirs["memory"] / "memory.stat")
        if self.backend.version == 2:
            return stat.get("anon", 0) + stat.get("shmem", 0)
        return stat.get("total_rss", stat.get("rss", 0)) + stat.get("total_shmem", stat.get("shmem", 0))

    def oom_killed(self) -> bool:
        """The kernel's OOM killer ended a process of the group (it reached the hard limit)."""
        name = "memory.events" if self.backend.version == 2 else "memory.oom_control"
        return self._stat(self.dirs["memory"] / name).get("oom_kill", 0) > 0

    def pids(self) -> list[int]:
        found: set[int] = set()
        for f in self.procs_files:
            try:
                found.update(int(x) for x in f.read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(found)

    def kill(self, seconds: float = 5) -> bool:
        """SIGKILL every process of the group until none is left; True when it is empty."""
        kill_file = self.dirs["pids"] / "cgroup.kill"
        deadline = time.monotonic() + seconds
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            if self.backend.version == 2 and kill_file.exists():
                try:
                    _write(kill_file, "1")
                except OSError:
                    pass
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        """Kill what is left and remove the group (retried while the kernel still tears it down)."""
        self.kill()
        for d in dict.fromkeys(self.dirs.values()):
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def create(cpus: float | None, memory_bytes: int | None, pids: int | None) -> Group | None:
    """A new group with these limits, or None where the machine has no usable cgroups."""
    backend, note = available()
    with _lock:
        first = not _state.get("swept")
        _state["swept"] = True
    if first:  # said once per run: what caps the sandboxes' CPU and counts their shared memory
        if backend is None:
            print(f"cgroups: none ({note}): CPU capped by RLIMIT_CPU only, shared memory not counted", file=sys.stderr)
        else:
            print(f"cgroups: {note}", file=sys.stderr)
            sweep_stale()
    if backend is None:
        return None
    group = Group(backend, f"{PREFIX}{os.getpid()}-{next(_counter)}")
    try:
        group.limit(cpus, memory_bytes, pids)
    except OSError:
        group.remove()
        raise
    return group


def _alive_owner(pid: int, created: float) -> bool:
    """The process that made a group created at ``created`` still runs (a grader, or a Dask worker
    grading: any process of that pid that started before the group, not a later one reusing it)."""
    import psutil

    try:
        return psutil.Process(pid).create_time() <= created + 1
    except psutil.Error:
        return False


def sweep_stale() -> list[str]:
    """Remove the groups of graders that are gone (killed with SIGKILL), killing what they hold."""
    backend, _ = available()
    if backend is None:
        return []
    removed = []
    for base in dict.fromkeys(backend.bases.values()):
        try:
            entries = list(base.iterdir())
        except OSError:
            continue
        for d in entries:
            m = re.fullmatch(rf"{PREFIX}(\d+)-\d+", d.name)
            try:
                created = d.stat().st_ctime
            except OSError:
                continue
            if not m or not d.is_dir() or _alive_owner(int(m.group(1)), created):
                continue
            stale = Group.__new__(Group)
            stale.backend = backend
            stale.dirs = {c: backend.bases[c] / d.name for c in CONTROLLERS}
            stale.remove()
            removed.append(d.name)
    return sorted(set(removed))
