"""Which sandbox this machine allows, tested before the first execution, and the sandbox's user ids.

The strongest mode that works and hides what must stay hidden is chosen by running the worker's
self-test (:func:`detect`): ``namespaces`` (as root: mount, network, PID, IPC and UTS namespaces
and a user id per sandbox), ``userns`` (an unprivileged user namespace), else ``none`` with a loud
warning. A sandbox's user id is held by no other sandbox on the host while it runs, whichever grader
run started it: :func:`acquire_uid` takes an ``flock`` on ``UID_LOCKS/<uid>.lock``, which the kernel
releases when the grader ends, however it ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding ds201_lab1
# Each running sandbox gets a user id of its own (as root), so that one notebook's processes (a fork
# storm against RLIMIT_NPROC, signals, /proc) never count against or reach another's.
SANDBOX_UIDS = range(480_000, 480_256)
# One lock file per uid, for every grader run on the host (root's /run; another user's own folder).
UID_LOCKS = Path("/run/ds201-uids") if os.geteuid() == 0 else Path(tempfile.gettempdir()) / f"ds201-uids-{os.geteuid()}"
_UIDS_HELD: dict[int, int] = {}  # uid -> the descriptor holding its lock
_UIDS_LOCK = threading.Lock()


def acquire_uid() -> int:
    """A uid of ``SANDBOX_UIDS`` that no other sandbox on this host holds now (host-wide ``flock``)."""
    UID_LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _UIDS_LOCK:
        for uid in SANDBOX_UIDS:
            if uid in _UIDS_HELD:
                continue
            path = UID_LOCKS / f"{uid}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino != os.stat(path, follow_symlinks=False).st_ino:
                    raise BlockingIOError  # its holder removed it meanwhile: that file is no lock now
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            _UIDS_HELD[uid] = fd
            return uid
    raise RuntimeError(f"all {len(SANDBOX_UIDS)} sandbox uids are in use on this host ({UID_LOCKS})")


def release_uid(uid: int) -> None:
    with _UIDS_LOCK:
        fd = _UIDS_HELD.pop(uid, None)
    if fd is not None:  # removed while locked (a run that opened it meanwhile sees another inode), then freed
        try:
            os.unlink(UID_LOCKS / f"{uid}.lock")
        except OSError:
            pass
        os.close(fd)


def worker_command(mode: str, spec: Path, selftest: bool = False) -> list[str]:
    py = [sys.executable, "-m", "ds201_lab1.grade.sandbox", *(["--selftest"] if selftest else []), str(spec)]
    ns = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
    if mode == "namespaces":
        return ["unshare", *ns, *py]
    if mode == "userns":
        return ["unshare", "--user", "--map-root-user", *ns, *py]
    return py


def worker_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PACKAGE_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _try(mode: str, workroot: Path, must_be_hidden: list[Path]) -> tuple[bool, str]:
    """``(True, what the sandbox looks like)`` when ``mode`` works here and hides everything, else
    ``(False, why not)``."""
    folder = Path(tempfile.mkdtemp(prefix="selftest-", dir=workroot))
    uid = acquire_uid()  # the self-test's sandbox is a sandbox too: its uid is its own
    try:
        for sub in ("root", "data", "work"):
            (folder / sub).mkdir()
        if mode == "namespaces":
            os.chown(folder / "work", uid, uid)
        spec = {
            "isolation": mode,
            "uid": uid,
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
            return False, f"{mode}: {(proc.stderr.strip().splitlines() or ['failed'])[-1][:200]}"
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        if seen["visible"] or seen["network"]:
            return False, f"{mode}: still sees {seen['visible']} / network {seen['network']}"
        return True, f"{mode}: mount+net+pid+ipc+uts namespaces, new root, uid {seen['uid']}"
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        return False, f"{mode}: {type(e).__name__}: {e}"
    finally:
        release_uid(uid)
        shutil.rmtree(folder, ignore_errors=True)


def detect(requested: str, workroot: Path, must_be_hidden: list[Path]) -> tuple[str, str]:
    """``(mode, note)``: the strongest of namespaces/userns/none that works and hides ``must_be_hidden``."""
    if requested == "none":
        return "none", "isolation disabled (--isolation none)"
    if requested != "auto":
        candidates = [requested]
    else:
        candidates = ["namespaces", "userns"] if os.geteuid() == 0 else ["userns"]
    notes = []
    for mode in candidates:
        if shutil.which("unshare") is None:
            notes.append("unshare(1) not found")
            break
        works, note = _try(mode, workroot, must_be_hidden)
        if works:
            return mode, note
        notes.append(note)
    if requested != "auto":
        raise SystemExit(f"--isolation {requested} does not work here: {'; '.join(notes)}")
    return "none", "no isolation (" + "; ".join(notes) + ")"


class Unsandboxed(SystemExit):
    """No sandbox works here (or ``--isolation none``) and ``--allow-unsandboxed`` was not given."""


class Sandbox:
    """The sandbox mode, chosen by its self-test once, before the first execution: a run that only
    re-verifies cached executions never starts one. A mode named by --isolation is tested at once.
    Without a sandbox the run refuses to execute anything (:class:`Unsandboxed`) unless
    ``allow_unsandboxed`` (``--allow-unsandboxed``)."""

    def __init__(self, requested: str, workroot: Path, hidden: list[Path], allow_unsandboxed: bool = False):
        self.requested, self.workroot, self.hidden = requested, workroot, hidden
        self.allow_unsandboxed = allow_unsandboxed
        self.note = ""  # what the self-test found, once it ran
        self._mode: str | None = None
        self._refusal: Unsandboxed | None = None
        self._lock = threading.Lock()

    def mode(self) -> str:
        with self._lock:
            if self._refusal is not None:
                raise Unsandboxed(self._refusal.code)
            if self._mode is None:
                mode, note = detect(self.requested, self.workroot, [p for p in self.hidden if p.exists()])
                print(f"sandbox: {note}", file=sys.stderr, flush=True)
                self.note = note
                if mode == "none" and not self.allow_unsandboxed:
                    self._refusal = Unsandboxed(
                        f"REFUSED to execute student code without a sandbox ({note}): it would run with your "
                        "permissions, read the hidden tests and reach the network. Make user namespaces work "
                        "(`unshare --user --map-root-user --mount --net --pid --fork true` must succeed for "
                        "this user), or pass --allow-unsandboxed to run it anyway (only for code you trust)."
                    )
                    raise Unsandboxed(self._refusal.code)
                if mode == "none":
                    print(
                        "WARNING: no sandbox here (--allow-unsandboxed): student code runs with your permissions "
                        "and can read the hidden tests.",
                        file=sys.stderr,
                        flush=True,
                    )
                self._mode = mode
            return self._mode

    def test_in_background(self) -> None:
        threading.Thread(target=self.mode, name="sandbox-self-test", daemon=True).start()
