"""Nothing a submission does can stop the batch, reach another submission, or change its answers
after they were checked (issue 15).

Cheap: tiny notebooks only (a few cells, no training). One batch through the real command line
grades a handful of them next to files that used to stop the batch, each compared with its honest
twin: a System V shared-memory channel between two sandboxes, an answer rewritten after its check
(``atexit``, a signal handler, a thread during a later cell), UTF-16 / legacy bytes / nbformat 3
files, names that collide after normalisation, a name that is a spreadsheet formula, a name that is
not UTF-8. Then what the batch left on the machine: no process, no segment, no mount, no file.
Apart from it: shared memory counts against the memory cap, and SIGKILL to the grader's process
group leaves no sandbox running, and a rerun resumes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from helpers import AUTOGRADER, grade, grading_log, read_grades

from ds201_lab1.grade import cgroups, execute, isolation, report
from ds201_lab1.grade.cache import Cache, Limits

RIGHT = "layer_kinds = ['input', 'hidden', 'output']"
WRONG = "layer_kinds = ['input', 'output']"
SETUP = "import otter\ngrader = otter.Notebook()"
CHECK = 'grader.check("q0_layers")'
ARGS = ("-j", "2", "--timeout", "300", "--memory", "3")

SHM = """\
import ctypes, json, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.restype = ctypes.c_int
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
KEY = 0x0D5215
"""
PUBLISH = SHM + """\
shmid = libc.shmget(KEY, 4096, 0o1666)  # IPC_CREAT: outlives this notebook where IPC is shared
assert shmid >= 0, ctypes.get_errno()
addr = libc.shmat(shmid, None, 0)
ctypes.memmove(addr, b'["input", "hidden", "output"]\\0', 30)
layer_kinds = json.loads(ctypes.string_at(addr).decode())  # the channel works inside one sandbox
time.sleep(20)  # still there while the other notebook looks for it
"""
READ = SHM + """\
deadline = time.time() + 25
shmid = -1
while shmid < 0 and time.time() < deadline:
    shmid = libc.shmget(KEY, 0, 0)
    time.sleep(0.5)
assert shmid >= 0, "no segment: the channel is closed"
layer_kinds = json.loads(ctypes.string_at(libc.shmat(shmid, None, 0o10000)).decode())
"""
FORGE = """\
import atexit, os, signal, sys, threading, time
_snap = sys.modules["_ds201_snapshot"]
_out = os.path.join(os.getcwd(), "_ds201", "artifacts")
_spec = os.path.join(os.getcwd(), "_ds201", "spec.json")
def _forge(*_):
    _snap.save("q0_layers", {"layer_kinds": ["input", "hidden", "output"]}, spec_path=_spec, out_dir=_out)
atexit.register(_forge)
signal.signal(signal.SIGTERM, lambda *a: (_forge(), os._exit(0)))
threading.Thread(target=lambda: (time.sleep(2), _forge()), daemon=True).start()
"""
LATER = "import time\ntime.sleep(4)  # the thread rewrites the answer during this cell"


def tiny(*sources: str, markdown: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def _write(folder: Path, name: str | bytes, data: bytes) -> Path:
    path = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
    path.write_bytes(data)
    return path


def _text(nb) -> str:
    return nbformat.writes(nb)


def _legacy_bytes() -> bytes:
    """A notebook whose markdown cell holds Windows-1258 bytes (not UTF-8)."""
    text = _text(tiny(SETUP, RIGHT, CHECK, markdown="Câu 0 LEGACY"))
    return text.encode().replace(b"LEGACY", "Tiếng Việt".encode("cp1258", "replace") + b"\xe0\xf5")


def _host_state() -> dict:
    shm = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    mounts = Path("/proc/self/mountinfo").read_text()
    return {"shm": shm, "mounts": mounts}


def _sandbox_uid_processes() -> set[int]:
    out = set()
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"] and p.info["uids"].real in isolation.SANDBOX_UIDS:
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("hardening")
    subs, out = work / "subs", work / "out"
    subs.mkdir()
    files = {
        "shm_publish": _write(subs, "shm_1_publish.ipynb", _text(tiny(SETUP, PUBLISH)).encode()),
        "shm_read": _write(subs, "shm_2_read.ipynb", _text(tiny(SETUP, READ)).encode()),
        "forged": _write(subs, "forged.ipynb", _text(tiny(SETUP, WRONG, CHECK, FORGE, LATER)).encode()),
        "forged_twin": _write(subs, "forged_twin.ipynb", _text(tiny(SETUP, WRONG, CHECK, LATER)).encode()),
        "right": _write(subs, "right.ipynb", _text(tiny(SETUP, RIGHT, CHECK)).encode()),
        "utf16": _write(subs, "utf16.ipynb", _text(tiny(SETUP, RIGHT, CHECK, "x = 16")).encode("utf-16")),
        "legacy": _write(subs, "legacy.ipynb", _legacy_bytes()),
        "v3": _write(subs, "v3.ipynb", _text(nbformat.convert(tiny(SETUP, RIGHT, CHECK, "x = 3"), 3)).encode()),
        # names that map to one feedback file once normalised: rejected, never executed
        "collide_a": _write(subs, "bài 1.ipynb", b"{ not json A"),
        "collide_b": _write(subs, "bài_1.ipynb", b"[1, 2]"),
        "collide_c": _write(subs, "bài 1.zip", b"not a zip C"),
        "collide_d": _write(subs, "bài 1.ipynb".encode().replace("à".encode(), "a\u0300".encode()), b""),
        "formula": _write(subs, '=HYPERLINK("x";"y").ipynb', b"{ formula"),
        "latin1_name": _write(subs, b"b\xe0i t\xe2p.ipynb", b"{ legacy name"),
        "deep": _write(subs, "deep.ipynb", b"[" * 200_000 + b"]" * 200_000),
    }
    before = _host_state()
    sandbox_pids_before = _sandbox_uid_processes()
    start = time.monotonic()
    proc = grade(subs, out, *ARGS, timeout=1200)
    elapsed = time.monotonic() - start
    rows = read_grades(out / "final_grades.csv")[1] if (out / "final_grades.csv").is_file() else {}
    return {
        "proc": proc,
        "rows": rows,
        "files": files,
        "out": out,
        "subs": subs,
        "before": before,
        "after": _host_state(),
        "sandbox_pids_before": sandbox_pids_before,
        "elapsed": elapsed,
    }


def _row(batch, key: str) -> dict[str, str]:
    rows = batch["rows"]
    name = next(n for n in rows if n.lstrip("'").startswith(_display(batch, key)))
    return rows[name]


def _display(batch, key: str) -> str:
    from ds201_lab1.grade.submissions import display_name

    path = batch["files"][key]
    return display_name(path.relative_to(batch["subs"]).as_posix())


def test_batch_completes_with_one_row_per_file(batch):
    proc = batch["proc"]
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len(batch["rows"]) == len(batch["files"]), sorted(batch["rows"])
    assert "JSON nested too deeply" in _row(batch, "deep")["grading_status"]


def test_shared_memory_channel_between_sandboxes_is_closed(batch):
    publisher, reader = _row(batch, "shm_publish"), _row(batch, "shm_read")
    assert float(publisher["q0_layers"]) == 1.0, "the channel does not even work inside one sandbox"
    assert float(reader["q0_layers"]) == 0.0, "a notebook read another sandbox's System V shared memory"
    assert "0xd5215" not in batch["after"]["shm"].lower(), batch["after"]["shm"]


def test_answer_rewritten_after_its_check_does_not_count(batch):
    forged, twin, right = _row(batch, "forged"), _row(batch, "forged_twin"), _row(batch, "right")
    assert float(right["q0_layers"]) == 1.0, "the forged value would score: the test would prove nothing"
    assert float(twin["q0_layers"]) == 0.0
    assert float(forged["q0_layers"]) == float(twin["q0_layers"]), "a rewrite after the check counted"


@pytest.mark.parametrize(
    ("key", "note"),
    [
        ("utf16", "repaired: decoded as UTF-16 (byte-order mark)"),
        ("legacy", "undecodable character(s) replaced by U+FFFD in cell(s) 1 (markdown)"),
        ("v3", "repaired: upgraded from nbformat 3 to 4"),
    ],
)
def test_repaired_files_are_graded_with_a_repair_note(batch, key, note):
    row = _row(batch, key)
    assert float(row["q0_layers"]) == 1.0, row
    assert row["grading_status"].startswith("ok; repaired: ") and note in row["grading_status"], row


def test_colliding_names_each_keep_their_own_feedback(batch):
    keys = ("collide_a", "collide_b", "collide_c", "collide_d", "formula", "latin1_name")
    feedback = list((batch["out"] / "feedback").glob("*.md"))
    assert len(feedback) == len(batch["files"]), sorted(p.name for p in feedback)
    texts = {p.name: p.read_text() for p in feedback}
    for key in keys:
        shown = _display(batch, key)
        owners = [n for n, t in texts.items() if f"`{shown}`" in t or f"`` {shown} ``" in t]
        assert len(owners) == 1, f"{key} ({shown!r}): {owners}"
    statuses = {_row(batch, k)["grading_status"] for k in ("collide_a", "collide_b", "collide_c", "collide_d")}
    assert len(statuses) == 4, statuses


def test_formula_names_are_escaped_in_the_csv(batch):
    raw = (batch["out"] / "final_grades.csv").read_text()
    cells = [row[0] for row in csv.reader(io.StringIO(raw))]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert "'=HYPERLINK(" in raw


def test_the_batch_leaves_nothing_behind(batch):
    out = batch["out"]
    assert batch["after"]["shm"] == batch["before"]["shm"] or "0xd5215" not in batch["after"]["shm"].lower()
    mounts = [line for line in batch["after"]["mounts"].splitlines() if str(out) in line]
    assert not mounts, mounts
    assert not list((out / ".scratch").iterdir()), list((out / ".scratch").iterdir())
    log = grading_log(out)[-1]
    groups = []
    backend, _ = cgroups.available()
    if backend is not None:
        for base in set(backend.bases.values()):
            groups += [d.name for d in base.iterdir() if d.name.startswith(cgroups.PREFIX) and d.is_dir()]
    mine = [g for g in groups if not g.startswith(cgroups.PREFIX + "grader")]
    # groups of graders still running elsewhere on this shared machine are theirs, not ours
    mine = [g for g in mine if not psutil.pid_exists(int(g.split("-")[1]))]
    assert not mine, mine
    assert len(log) == len(batch["files"])
    leftover = [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]
    assert not leftover, leftover
    # processes of the sandbox uids that appeared with our run and outlived it, adopted by init
    new = _sandbox_uid_processes() - batch["sandbox_pids_before"]
    ours = []
    for pid in new:
        try:
            p = psutil.Process(pid)
            if p.ppid() == 1 and p.create_time() > time.time() - batch["elapsed"] - 5:
                ours.append(pid)
        except psutil.Error:
            pass
    assert not ours, ours


# ---------------------------------------------------------------------------------------------
# Shared memory counts against the cap
# ---------------------------------------------------------------------------------------------
SHM_HOG = SHM + """\
libc.shmdt.argtypes = [ctypes.c_void_p]
size = 200 * 2**20
shmid = libc.shmget(0, size, 0o1600)  # IPC_PRIVATE
assert shmid >= 0, ctypes.get_errno()
addr = libc.shmat(shmid, None, 0)
ctypes.memset(addr, 1, size)
libc.shmdt(addr)  # detached: in no process's resident memory any more
block = b"x" * 2**20
with open("/tmp/fill", "wb") as f:  # the sandbox's /tmp is a tmpfs: memory, not disk
    for _ in range(700):
        f.write(block)
with open("/dev/shm/fill", "wb") as f:
    for _ in range(200):
        f.write(block)
time.sleep(30)
"""


def _execute(tmp_path: Path, nb, memory_bytes: int):
    from ds201_lab1.data import cache_dir

    tmp_path.mkdir(parents=True, exist_ok=True)
    mode, _ = isolation.detect("auto", tmp_path, [AUTOGRADER])
    limits = Limits(240, memory_bytes, 8 * 2**30, None)
    settings = execute.Settings(
        tmp_path / "scratch", execute.kernel_files(AUTOGRADER), cache_dir(), limits, 1, {"values": {}, "probes": {}}
    )
    cache = Cache(tmp_path / "cache", "test", limits)
    return execute.execute("1" * 64, nb, "lab1.ipynb", settings, mode, cache), mode


def test_shared_memory_and_tmpfs_count_against_the_memory_cap(tmp_path):
    backend, note = cgroups.available()
    if backend is None:
        pytest.skip(f"no cgroup here ({note}): shared memory is only bounded by the sandbox's sizes")
    cap = 900 * 2**20
    twin, _ = _execute(tmp_path / "twin", tiny("import time\ntime.sleep(3)"), cap)
    assert twin.outcome.kind == "ok", twin.outcome
    assert twin.meta["peak_rss"] < cap / 2, f"the twin alone peaks at {twin.meta['peak_rss'] / 2**20:.0f} MiB"
    hog, mode = _execute(tmp_path / "hog", tiny(SHM_HOG), cap)
    assert hog.outcome.kind == "memory", (mode, hog.outcome, hog.meta.get("peak_rss"))


# ---------------------------------------------------------------------------------------------
# A killed grader
# ---------------------------------------------------------------------------------------------
def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def test_sigkill_to_the_graders_group_leaves_no_sandbox_and_a_rerun_resumes(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    (subs / "a_quick.ipynb").write_text(_text(tiny(SETUP, RIGHT)))
    (subs / "b_slow.ipynb").write_text(_text(tiny(SETUP, RIGHT, CHECK, "import time\ntime.sleep(3600)")))
    cmd = [sys.executable, "-m", "ds201_lab1.grade", str(subs), str(out), "-j", "2", "--timeout", "900"]  # b runs on
    grader = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    sandboxes: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and grader.poll() is None:
            rows = read_grades(out / "final_grades.csv")[1] if (out / "final_grades.csv").is_file() else {}
            tree = _descendants(grader.pid)
            sandboxes = [p for p in tree if "ds201_lab1.grade.verify" not in " ".join(_cmdline(p))]
            kernels = [p for p in sandboxes if "ipykernel" in " ".join(_cmdline(p))]
            if "a_quick.ipynb" in rows and kernels:
                break
            time.sleep(0.5)
        assert grader.poll() is None, "the grader ended before it could be killed"
        assert kernels, "no sandbox running when the grader was killed"
        os.killpg(grader.pid, signal.SIGKILL)
        grader.wait()
        gone, alive = psutil.wait_procs(sandboxes, timeout=5)
        assert not alive, f"sandbox processes alive 5 s after the grader died: {[_cmdline(p) for p in alive]}"
    finally:
        for p in _descendants(grader.pid):
            p.kill()
        grader.kill()
        grader.wait()
    rerun = grade(subs, out, *ARGS[:2], "--timeout", "60", timeout=900)  # b_slow: stopped, graded
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rows = read_grades(out / "final_grades.csv")[1]
    assert sorted(rows) == ["a_quick.ipynb", "b_slow.ipynb"]
    how = {e["file"]: e["how"] for e in grading_log(out)[-1]}
    assert how == {"a_quick.ipynb": "cached", "b_slow.ipynb": "executed"}, how
    assert float(rows["a_quick.ipynb"]["q0_layers"]) == 1.0
    assert rows["b_slow.ipynb"]["grading_status"].startswith("timeout after 60 s")
    backend, _ = cgroups.available()
    if backend is not None:  # the killed grader's groups were swept by the rerun
        left = [d for b in set(backend.bases.values()) for d in b.glob(f"{cgroups.PREFIX}{grader.pid}-*")]
        assert not left, left


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def test_output_names_are_injective_and_stable():
    files = ["a.ipynb", "a.zip", "A.ipynb", "x y.ipynb", "x_y.ipynb", "b.ipynb", "sub/c.ipynb", "sub__c.ipynb"]
    names = report.output_names(files)
    assert len({n.casefold() for n in names.values()}) == len(files), names
    assert names["b.ipynb"] == "b.md"  # no collision: the plain name
    assert report.output_names(reversed(files)) == names
    assert json.dumps(names)


# ---------------------------------------------------------------------------------------------
# The sealer, in process: what is copied out and when
# ---------------------------------------------------------------------------------------------
def _save(artifacts: Path, q: str, value: str) -> None:
    """What the kernel's saver does: a new folder renamed into place."""
    import shutil

    tmp = artifacts / f"{q}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "manifest.json").write_text(json.dumps({"v": value}))
    shutil.rmtree(artifacts / q, ignore_errors=True)
    tmp.rename(artifacts / q)


def test_sealer_keeps_what_each_check_saved(tmp_path):
    from ds201_lab1.grade.sandbox import Sealer

    artifacts, sealed = tmp_path / "artifacts", tmp_path / "sealed"
    artifacts.mkdir()
    sealed.mkdir()
    fd = os.open(sealed, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sealer = Sealer(str(artifacts), fd, {"q1", "q2"}, 10 * 2**20)
        _save(artifacts, "q1", "first")
        model = artifacts / "models" / ("m" + "0" * 24)
        model.mkdir(parents=True)
        (model / "w0.npy").write_bytes(b"weights")
        (artifacts / "q1" / "link").symlink_to("/etc/passwd")
        os.mkfifo(artifacts / "q1" / "fifo")
        sealer.after_cell('grader.check("q1")')
        _save(artifacts, "q1", "rewritten")  # a thread or handler, during a later cell
        (model / "w0.npy").write_bytes(b"forged")
        sealer.after_cell("x = 1")
        sealer.after_cell("")  # the grader's last cell checks only what was never checked
        assert json.loads((sealed / "q1" / "manifest.json").read_text()) == {"v": "first"}
        assert (sealed / "models" / model.name / "w0.npy").read_bytes() == b"weights"
        assert sorted(p.name for p in (sealed / "q1").iterdir()) == ["manifest.json"]
        _save(artifacts, "q1", "checked again")  # a check of q1 by name replaces it, as in otter
        _save(artifacts, "q2", "second")
        sealer.after_cell("grader.check('q1')\nprint(1)")
        assert json.loads((sealed / "q1" / "manifest.json").read_text()) == {"v": "checked again"}
        assert json.loads((sealed / "q2" / "manifest.json").read_text()) == {"v": "second"}
        _save(artifacts, "q1", "after the last cell")  # atexit: the worker never looks again
        assert json.loads((sealed / "q1" / "manifest.json").read_text()) == {"v": "checked again"}
        assert not list(sealed.glob("*.tmp")) and sealer.problems == []
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Namespaces and user ids
# ---------------------------------------------------------------------------------------------
def test_the_sandbox_has_its_own_ipc_and_uts_namespaces(tmp_path):
    mode, note = isolation.detect("auto", tmp_path, [])
    if mode == "none":
        pytest.skip(f"no sandbox here: {note}")
    for sub in ("root", "data", "work"):
        (tmp_path / sub).mkdir()
    if os.geteuid() == 0:
        os.chown(tmp_path / "work", isolation.SANDBOX_UIDS[-1], isolation.SANDBOX_UIDS[-1])
    spec = {"isolation": mode, "uid": isolation.SANDBOX_UIDS[-1], "tmp": "/tmp", "must_be_hidden": []}
    spec |= {k: str(tmp_path / k) for k in ("root", "data", "work")}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run(
        isolation.worker_command(mode, tmp_path / "spec.json", selftest=True),
        env=isolation.worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["ipc"] and seen["ipc"] != os.readlink("/proc/self/ns/ipc"), seen
    assert seen["hostname"] == "ds201-sandbox", seen


def test_a_sandbox_uid_is_held_by_one_grader_on_the_host():
    script = (
        "from ds201_lab1.grade import isolation; import sys; "
        "u = isolation.acquire_uid(); print(u, flush=True); sys.stdin.readline()"
    )
    first = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(first.stdout.readline())
        mine = isolation.acquire_uid()
        try:
            assert mine != theirs
        finally:
            isolation.release_uid(mine)
    finally:
        first.stdin.close()
        first.wait(timeout=30)
    again = isolation.acquire_uid()  # released by its holder's exit: free again
    isolation.release_uid(again)
    assert not (isolation.UID_LOCKS / f"{again}.lock").exists()
