"""Which sandbox this machine allows, tested before the first execution, and the sandbox's user ids.

The strongest mode that works and hides what must stay hidden is chosen by running the worker's
self-test (:func:`detect`): ``namespaces`` (as root: mount, network and PID namespaces and a user id
per sandbox), ``userns`` (an unprivileged user namespace), else ``none`` with a loud warning.
"""

from __future__ import annotations

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


def worker_command(mode: str, spec: Path, selftest: bool = False) -> list[str]:
    py = [sys.executable, "-m", "ds201_lab1.grade.sandbox", *(["--selftest"] if selftest else []), str(spec)]
    ns = ["--mount", "--net", "--pid", "--fork", "--kill-child"]
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
            return False, f"{mode}: {(proc.stderr.strip().splitlines() or ['failed'])[-1][:200]}"
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        if seen["visible"] or seen["network"]:
            return False, f"{mode}: still sees {seen['visible']} / network {seen['network']}"
        return True, f"{mode}: mount+net+pid namespaces, new root, uid {seen['uid']}"
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        return False, f"{mode}: {type(e).__name__}: {e}"
    finally:
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
