"""Process trees: start one in its own group, watch its wall clock, memory and disk, kill it whole.

Every process the grader starts (sandboxed workers, verifiers) is tracked here, so that Ctrl-C
(:func:`stop_all`) kills every tree at once and no new one starts afterwards. A supervised tree
dies with the grader however the grader dies: its first process gets ``PR_SET_PDEATHSIG``
(SIGKILL, through ``setpriv --pdeathsig``, kept across ``exec`` into ``unshare``) and joins its
:mod:`.cgroups` group (when there is one) before it executes anything, so that the group holds every
process it starts; its memory is then counted from the group (shared memory included).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from . import cgroups


@dataclass
class Supervised:
    returncode: int | None
    killed: str | None  # None, "timeout", "memory" or "disk"
    elapsed: float
    peak_rss: int


class Stopped(Exception):
    """The run is being interrupted: no new process is started."""


_ACTIVE: set[subprocess.Popen] = set()
_ACTIVE_LOCK = threading.Lock()
STOPPING = threading.Event()


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


def stop_all() -> None:
    """Kill every tracked process tree now (Ctrl-C); no new one starts afterwards."""
    STOPPING.set()
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE)
    for proc in procs:
        kill_tree(proc)


_THREAD = threading.local()


@contextlib.contextmanager
def stop_when(event: threading.Event):
    """In this thread, a supervised tree is killed and :class:`Stopped` raised once ``event`` is set
    (a Dask task cancelled by its client: its sandbox must not run on)."""
    _THREAD.stop = event
    try:
        yield
    finally:
        _THREAD.stop = None


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-300:]


def wrap(cmd: list[str], group: cgroups.Group | None = None) -> list[str]:
    """``cmd`` started so that it dies with this process (SIGKILL as parent-death signal) and,
    with ``group``, joins that cgroup before it executes."""
    if group is not None:
        joins = " && ".join(f"echo $$ > {shlex.quote(str(f))}" for f in group.procs_files)
        cmd = ["/bin/sh", "-c", f'{joins} && exec "$@"', "ds201-join", *cmd]
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", *cmd] if setpriv else cmd


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
    group: cgroups.Group | None = None,
) -> Supervised:
    """Run ``cmd`` in its own process group; kill the whole tree at ``timeout`` s, ``memory_bytes``
    (the tree's RSS, or the cgroup's anonymous + shared memory when larger), or
    (``disk=(folder, bytes)``) when the files under ``folder`` pass ``bytes``. With ``group`` the
    tree runs in that cgroup; its processes are all killed at the end (the group is not removed)."""
    next_disk_check = 0.0
    start = time.monotonic()
    with _ACTIVE_LOCK:
        if STOPPING.is_set():
            raise Stopped("interrupted")
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                wrap(cmd, group),
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
    stop = getattr(_THREAD, "stop", None)
    try:
        while True:
            try:
                proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop is not None and stop.is_set():
                raise Stopped("cancelled")
            if timeout and time.monotonic() - start > timeout:
                killed = "timeout"
            else:
                rss = max(tree_rss(proc.pid), group.memory() if group else 0)
                peak = max(peak, rss)
                if memory_bytes and (rss > memory_bytes or (group is not None and group.oom_killed())):
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
        untrack(proc)
        if group is not None:
            group.kill()
            if killed is None and memory_bytes and group.oom_killed():
                killed = "memory"
    if STOPPING.is_set():
        raise Stopped("interrupted")
    return Supervised(proc.returncode, killed, time.monotonic() - start, peak)
