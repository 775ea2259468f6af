"""Real Dask clusters for the tests and the bench: ``dask scheduler`` and ``dask worker`` processes.

Each process is started in its own process group on 127.0.0.1 with ports it picks itself (the
scheduler writes its address to a file), so that concurrent runs never collide; :meth:`Cluster.close`
ends every process started and everything they started, and records what survived.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

DASK = Path(sys.executable).parent / "dask"
CONFIG = Path(__file__).resolve().parents[1] / "dask.yaml"  # the README's settings for grading clusters
WAIT = 300  # seconds any wait for a process or a file may take before giving up (never reached normally)
ALLOWED_FAILURES = 1  # the test scheduler's: one lost worker is survived, two stop the submission
USER = "nobody"  # the unprivileged user a worker can run as


def wait(what: str, condition, timeout: float = WAIT, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")


# The Python this venv was made from may live where USER cannot read it (here: root's pyenv under
# /root, mode 700). The worker then starts in a mount namespace where /root is an empty tmpfs that
# shows that one installation, read-only as it is: the node "has the project installed" for USER.
SHOW_PYTHON = """
set -e
mount --make-rprivate /
b=$(mktemp -d)
mount --bind "/root/$1" "$b"
mount -t tmpfs -o mode=755 tmpfs /root
mkdir "/root/$1"
mount --bind "$b" "/root/$1"
umount "$b"
rmdir "$b"
shift
exec "$@"
"""


def as_user(cmd: list[str], user: str, env: dict[str, str]) -> list[str]:
    run = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *cmd]  # runuser resets HOME
    base = Path(sys.base_prefix).resolve()
    if Path("/root") not in base.parents:
        return run
    return ["unshare", "--mount", "sh", "-c", SHOW_PYTHON, "sh", base.relative_to("/root").parts[0], *run]


class Cluster:
    """A scheduler and workers, each started as its own process group; :meth:`close` ends them all."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        self.env = {
            **os.environ,
            "DASK_CONFIG": str(CONFIG),
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(ALLOWED_FAILURES),
            "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
            **(env or {}),
        }
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        file = folder / "scheduler.json"
        self._start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
            "scheduler",
        )
        self.address = wait(
            "the scheduler's address", lambda: file.is_file() and json.loads(file.read_text() or "{}").get("address")
        )

    def _start(self, args: list[str], name: str, user: str | None = None, env: dict | None = None) -> subprocess.Popen:
        cmd = [str(DASK), *args]
        if user:
            cmd = as_user(cmd, user, env or {})
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 (the process writes it)
        proc = subprocess.Popen(
            cmd,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.folder,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def add_worker(self, name: str, resources: str = "grading=1", user: str | None = None, env: dict | None = None):
        local = self.folder / name
        local.mkdir()
        if user:
            shutil.chown(local, user)
        args = [
            "worker",
            self.address,
            "--name",
            name,
            "--nthreads",
            "1",
            "--resources",
            resources,
            "--memory-limit",
            "6GiB",
            "--local-directory",
            str(local),
            "--no-dashboard",
            "--host",
            "127.0.0.1",
        ]
        self.workers[name] = self._start(args, name, user, env)

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="60s", set_as_default=False)

    def wait_workers(self, n: int) -> None:
        with self.client() as c:
            c.wait_for_workers(n, timeout=WAIT)

    def worker_processes(self, name: str) -> list[psutil.Process]:
        """The worker processes the nanny ``name`` started (restarted after a kill)."""
        try:
            return psutil.Process(self.workers[name].pid).children()
        except psutil.Error:
            return []

    def tree(self) -> list[psutil.Process]:
        found = []
        for proc in self.procs:
            try:
                top = psutil.Process(proc.pid)
                found += [top, *top.children(recursive=True)]
            except psutil.Error:
                pass
        return found

    def close(self) -> None:
        started = self.tree()
        for proc in reversed(self.procs):  # workers first: their nannies end them and their sandboxes
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        for p in started:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(started, timeout=30)  # SIGKILL is delivered, not instant
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.left = [p for p in started if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def ours(folder: Path) -> list[str]:
    """Processes running whose command line names ``folder`` (sandboxes, verifiers, workers)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if str(folder) in line and p.pid != os.getpid():
            found.append(f"{p.pid}: {line[:200]}")
    return found


def wait_gone(folder: Path) -> list[str]:
    """What still runs under ``folder`` once every process had up to a minute to end."""
    try:
        wait("our processes to end", lambda: not ours(folder), timeout=60, poll=1)
    except AssertionError:
        pass
    return ours(folder)
