"""Grading on a Dask cluster (issue 14): real ``dask scheduler`` and ``dask worker`` processes.

A scheduler and two single-slot workers (each its own process tree, with a nanny) on 127.0.0.1,
on ports they pick themselves, grade a batch of tiny notebooks (no data loaded, no model trained):
an otter export zip with one answer wrong, a file that is not JSON, a notebook and its copy, and
one that sleeps in its first cell. The
worker running the sleeping one is SIGKILLed, whole tree, while its sandbox runs: every submission
is still graded once, and the CSV and feedback equal a local ``-j 2`` run's. Then: a submission
whose workers all die ends with a status saying so, a re-grade from the cache needs no cluster,
a worker that cannot sandbox stops the run unless ``--allow-unsandboxed``, an unreachable
scheduler stops the command at once, and a worker running as an unprivileged user grades
through the user-namespace sandbox. Nothing is left running: every process we started, and every
sandbox or verifier under our folders, is checked gone at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grade_fixtures as fx
import nbformat
import psutil
import pytest
from dask_cluster import ALLOWED_FAILURES, CONFIG, USER, Cluster, ours, wait, wait_gone
from helpers import grade, grading_log, read_grades

from ds201_lab1.grade import submissions

TIMEOUT = 600  # per submission: generous, a loaded machine is slow; nothing here waits for it
SLEEP = 20  # seconds the sleeping notebook's first cell sleeps: the window in which its worker is killed
ARGS = ("--timeout", str(TIMEOUT), "--memory", "4")


def _tiny(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    return nb


SLEEPY = _tiny(f"import time\ntime.sleep({SLEEP})", "layer_kinds = ['input', 'hidden', 'output']")


def _free_port() -> int:
    """A port nothing listens on (for the unreachable scheduler)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    c = Cluster(folder / "dask")
    try:
        c.add_worker("w1")
        c.add_worker("w2")
        c.wait_workers(2)
        yield c
    finally:
        c.close()
        assert not c.left, f"still running after the cluster was stopped: {c.left}"
        assert not wait_gone(folder), f"still running: {ours(folder)}"


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    subs = tmp_path_factory.mktemp("cluster-subs")
    # An otter export zip answering two questions, one wrong (cheap: no data loaded, no model trained)
    fx.export_zip(_tiny("layer_kinds = ['input', 'hidden', 'output']", fx.WRONG_ANSWER), subs / "wrong.zip")
    (subs / "notjson.ipynb").write_text("this is not JSON {")
    tiny = _tiny("layer_kinds = ['input', 'hidden', 'output']")
    fx.write(tiny, subs / "tiny.ipynb")
    fx.write(tiny, subs / "tiny_copy.ipynb")
    fx.write(SLEEPY, subs / "sleepy.ipynb")
    return subs


LOCAL_RUN = """
import sys
from ds201_lab1.grade import cli
code = cli.main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
print("DASK MODULES:", loaded, file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def local_run(batch, tmp_path_factory) -> Path:
    """The same batch graded locally at -j 2 (the reference), checking that it never imported Dask."""
    out = tmp_path_factory.mktemp("local") / "out"
    cmd = [sys.executable, "-c", LOCAL_RUN, str(batch), str(out), "-j", "2", *ARGS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DASK MODULES: []" in proc.stderr, "the local -j path imported Dask"
    return out


def _sandbox_of(cluster: Cluster, sha256: str) -> str | None:
    """The worker whose process tree runs the sandbox of the submission ``sha256``, if any."""
    for name in cluster.workers:
        for worker in cluster.worker_processes(name):
            try:
                for p in worker.children(recursive=True):
                    line = " ".join(p.cmdline())
                    if "ds201_lab1.grade.sandbox" in line and f"/{sha256[:12]}-" in line:
                        return name
            except psutil.Error:
                continue
    return None


def _kill_worker_tree(cluster: Cluster, name: str) -> None:
    """SIGKILL the worker process of ``name`` and all it started (a machine lost); its nanny restarts it."""
    for worker in cluster.worker_processes(name):
        try:
            procs = [worker, *worker.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass


def _sha(path: Path) -> str:
    return submissions.read_submission(path, path.parent, "lab1").sha256


@contextlib.contextmanager
def _grading_on(cluster: Cluster, subs: Path, out: Path):
    """``python -m ds201_lab1.grade SUBS OUT --scheduler …`` running (pipes for its output); killed
    if it still runs when the block ends."""
    cmd = [sys.executable, "-m", "ds201_lab1.grade", str(subs), str(out), "--scheduler", cluster.address, *ARGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cluster_run(cluster, batch, local_run, tmp_path_factory) -> dict:
    """The batch on the cluster; the worker running the sleeping notebook is killed mid-task."""
    out = tmp_path_factory.mktemp("on-cluster") / "out"
    with _grading_on(cluster, batch, out) as proc:
        victim = wait("the sleeping notebook's sandbox", lambda: _sandbox_of(cluster, _sha(batch / "sleepy.ipynb")))
        _kill_worker_tree(cluster, victim)
        _, stderr = proc.communicate(timeout=3600)
    assert proc.returncode == 0, stderr[-3000:]
    return {"out": out, "stderr": stderr, "victim": victim}


def test_cluster_csv_equals_local_and_survives_a_lost_worker(cluster_run, local_run, batch):
    out = cluster_run["out"]
    assert (out / "final_grades.csv").read_text() == (local_run / "final_grades.csv").read_text()
    for md in sorted((local_run / "feedback").iterdir()):
        assert (out / "feedback" / md.name).read_text() == md.read_text(), md.name
    log = grading_log(out)
    assert len(log) == 1 and sorted(e["file"] for e in log[0]) == sorted(p.name for p in batch.iterdir())
    _, rows = read_grades(out / "final_grades.csv")
    assert rows["sleepy.ipynb"]["grading_status"] == "ok" and rows["tiny.ipynb"]["q0_layers"] == "1"
    assert rows["wrong.zip"]["q0_layers"] == "1" and rows["wrong.zip"][fx.WRONG] == "0"
    how = {e["file"]: e["how"] for e in log[0]}
    assert how["notjson.ipynb"] == "rejected" and how["wrong.zip"] == "executed"
    assert sorted(how[n] for n in ("tiny.ipynb", "tiny_copy.ipynb")) == ["cached", "executed"]
    assert "sandbox on tcp://127.0.0.1:" in cluster_run["stderr"]
    assert json.loads((out / "summary.json").read_text())["submissions"] == len(rows)


def test_regrade_from_the_cache_needs_no_cluster(cluster_run, local_run, batch, tmp_path):
    """The client's cache holds the cluster's executions: a local run only re-verifies them."""
    out = tmp_path / "out"
    shutil.copytree(cluster_run["out"] / ".cache", out / ".cache")
    proc = grade(batch, out, *ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [e["file"] for e in grading_log(out)[-1] if e["how"] == "executed"] == []
    assert (out / "final_grades.csv").read_text() == (local_run / "final_grades.csv").read_text()


def test_a_submission_whose_workers_all_die_is_stopped_and_the_batch_completes(cluster, tmp_path):
    subs = tmp_path / "subs"
    fx.write(SLEEPY, subs / "doomed.ipynb")
    fx.write(_tiny("layer_kinds = ['input', 'hidden', 'output']", "# other"), subs / "fine.ipynb")
    out = tmp_path / "out"
    sha = _sha(subs / "doomed.ipynb")
    with _grading_on(cluster, subs, out) as proc:
        for _ in range(ALLOWED_FAILURES + 1):
            victim = wait("the doomed notebook's sandbox", lambda: _sandbox_of(cluster, sha))
            _kill_worker_tree(cluster, victim)
            wait("the killed worker's sandbox to go", lambda v=victim: _sandbox_of(cluster, sha) != v, poll=0.5)
        _, stderr = proc.communicate(timeout=3600)
    assert proc.returncode == 2, stderr[-3000:]  # a grader error in the batch
    _, rows = read_grades(out / "final_grades.csv")
    status = rows["doomed.ipynb"]["grading_status"]
    assert status.startswith(f"grader error: stopped after {ALLOWED_FAILURES + 1} workers died"), status
    assert rows["fine.ipynb"]["grading_status"] == "ok" and rows["fine.ipynb"]["q0_layers"] == "1"
    cluster.wait_workers(2)  # the nannies restart the killed workers for the next test


def test_an_interrupted_client_keeps_what_was_graded_and_a_rerun_resumes(cluster, tmp_path):
    """Ctrl-C on the cluster path: the graded submission stays in the CSV and the cache, the cancelled
    task's sandbox is killed on its worker, and the rerun executes only what was not finished."""
    subs = tmp_path / "subs"
    fx.write(_tiny("layer_kinds = ['input', 'hidden', 'output']  # quick"), subs / "a_quick.ipynb")
    fx.write(_tiny("import time\ntime.sleep(3600)  # slow", "layer_kinds = []"), subs / "b_slow.ipynb")
    out = tmp_path / "out"
    sha = _sha(subs / "b_slow.ipynb")
    with _grading_on(cluster, subs, out) as proc:
        wait("the quick one graded", lambda: "a_quick.ipynb" in _rows_now(out), timeout=600)
        wait("the slow one's sandbox", lambda: _sandbox_of(cluster, sha))
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-3000:]
    assert "interrupted: 1 graded are in" in stderr and "run the same command again to resume" in stderr
    assert sorted(read_grades(out / "final_grades.csv")[1]) == ["a_quick.ipynb"]
    # the run's timeout is 600 s and the cell sleeps an hour: only the cancellation ends it this soon
    wait("the cancelled task's sandbox to end", lambda: _sandbox_of(cluster, sha) is None, timeout=60)
    rerun = grade(subs, out, "--scheduler", cluster.address, "--timeout", "20", "--memory", "4")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    how = {e["file"]: e["how"] for e in grading_log(out)[-1]}
    assert how == {"a_quick.ipynb": "cached", "b_slow.ipynb": "executed"}, how
    rows = read_grades(out / "final_grades.csv")[1]
    assert rows["a_quick.ipynb"]["q0_layers"] == "1"
    assert rows["b_slow.ipynb"]["grading_status"].startswith("timeout after 20 s"), rows["b_slow.ipynb"]


def _rows_now(out: Path) -> dict:
    path = out / "final_grades.csv"
    return read_grades(path)[1] if path.is_file() else {}


def test_a_worker_without_sandbox_stops_the_run_unless_allowed(cluster, tmp_path):
    subs = tmp_path / "subs"
    fx.write(_tiny("layer_kinds = ['input', 'hidden', 'output']"), subs / "a.ipynb")
    proc = grade(subs, tmp_path / "out", "--scheduler", cluster.address, "--isolation", "none", *ARGS)
    assert proc.returncode != 0
    assert "REFUSED to execute student code without a sandbox" in proc.stderr, proc.stderr[-3000:]
    assert "--allow-unsandboxed" in proc.stderr and "worker tcp://127.0.0.1:" in proc.stderr
    assert not list((tmp_path / "out" / ".cache").glob("*/execution.json"))
    flags = ("--isolation", "none", "--allow-unsandboxed")
    proc = grade(subs, tmp_path / "out", "--scheduler", cluster.address, *flags, *ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sandbox on tcp://127.0.0.1:" in proc.stderr and "isolation disabled" in proc.stderr
    _, rows = read_grades(tmp_path / "out" / "final_grades.csv")
    assert rows["a.ipynb"]["grading_status"] == "ok" and rows["a.ipynb"]["q0_layers"] == "1"


def test_unreachable_scheduler_stops_at_once_with_the_fix(tmp_path):
    subs = tmp_path / "subs"
    fx.write(_tiny("x = 1"), subs / "a.ipynb")
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    proc = grade(subs, tmp_path / "out", "--scheduler", address, timeout=300)
    assert proc.returncode != 0 and time.monotonic() - start < 120
    assert f"cannot reach the Dask scheduler at {address}" in proc.stderr, proc.stderr[-2000:]
    assert "dask scheduler" in proc.stderr and "dask worker" in proc.stderr and "--resources grading=1" in proc.stderr
    assert not (tmp_path / "out").exists(), "nothing is set up before the scheduler answers"


# ---------------------------------------------------------------------------------------------
# Workers without root: the user-namespace sandbox
# ---------------------------------------------------------------------------------------------


def _unprivileged_ok() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start a worker as another user"
    if shutil.which("runuser") is None or shutil.which("unshare") is None:
        return "runuser or unshare missing"
    probe = [
        "runuser",
        "-u",
        USER,
        "--",
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--net",
        "--pid",
        "--fork",
        "true",
    ]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return "unprivileged user namespaces are disabled on this machine"
    return None


def test_worker_as_an_unprivileged_user_grades_in_a_user_namespace():
    why = _unprivileged_ok()
    if why:
        pytest.skip(why)
    from ds201_lab1.data import cache_dir

    root = Path(tempfile.mkdtemp(prefix="ds201-unprivileged-", dir="/tmp"))  # USER reaches /tmp, not pytest's
    root.chmod(0o755)
    c = None
    try:
        data = root / "data"  # the datasets where USER can read them (hard links: the files are world-readable)
        shutil.copytree(cache_dir(), data, copy_function=os.link, ignore=shutil.ignore_patterns(".*"))
        home = root / "home"
        home.mkdir()
        shutil.chown(home, USER)
        c = Cluster(root / "dask")
        c.add_worker("u1", user=USER, env={"DS201_DATA_DIR": str(data), "HOME": str(home)})
        c.wait_workers(1)
        subs, out = root / "subs", root / "out"
        fx.write(_tiny("layer_kinds = ['input', 'hidden', 'output']"), subs / "t.ipynb")
        proc = grade(subs, out, "--scheduler", c.address, *ARGS)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "sandbox on tcp://127.0.0.1:" in proc.stderr and ": userns: " in proc.stderr, proc.stderr[-2000:]
        _, rows = read_grades(out / "final_grades.csv")
        assert rows["t.ipynb"]["grading_status"] == "ok" and rows["t.ipynb"]["q0_layers"] == "1"
        owners = {p.username() for p in c.worker_processes("u1")}
        assert owners == {USER}, owners
    finally:
        if c is not None:
            c.close()
        left = wait_gone(root)
        shutil.rmtree(root, ignore_errors=True)
        assert c is None or not c.left, c.left
        assert not left, left


# ---------------------------------------------------------------------------------------------
# No sandbox: refused unless --allow-unsandboxed (the local path; the cluster's is tested above)
# ---------------------------------------------------------------------------------------------
def test_no_sandbox_is_refused_loudly(tmp_path):
    subs = tmp_path / "subs"
    fx.write(_tiny("x = 1"), subs / "a.ipynb")
    proc = grade(subs, tmp_path / "out", "--isolation", "none", *ARGS)
    assert proc.returncode != 0
    assert "REFUSED to execute student code without a sandbox" in proc.stderr, proc.stderr[-2000:]
    assert "--allow-unsandboxed" in proc.stderr
    assert not list((tmp_path / "out" / ".cache").glob("*/execution.json"))


def test_no_sandbox_runs_with_allow_unsandboxed(tmp_path):
    subs = tmp_path / "subs"
    fx.write(_tiny("layer_kinds = ['input', 'hidden', 'output']"), subs / "a.ipynb")
    proc = grade(subs, tmp_path / "out", "--isolation", "none", "--allow-unsandboxed", *ARGS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "WARNING: no sandbox here (--allow-unsandboxed)" in proc.stderr
    _, rows = read_grades(tmp_path / "out" / "final_grades.csv")
    assert rows["a.ipynb"]["grading_status"] == "ok" and rows["a.ipynb"]["q0_layers"] == "1"


# ---------------------------------------------------------------------------------------------
# What a task asks of its worker
# ---------------------------------------------------------------------------------------------
def test_tasks_ask_a_grading_slot_and_the_memory_when_workers_declare_it():
    from ds201_lab1.grade.cluster import task_resources

    gib = 2**30
    need = int(3.5 * gib)
    slots_only = {"a": {"resources": {"grading": 1}}, "b": {"resources": {"grading": 2}}, "c": {"resources": {}}}
    assert task_resources(slots_only, need)[:2] == ({"grading": 1}, 3)
    with_memory = {
        "eight": {"resources": {"grading": 4, "MEMORY": 8 * gib}},  # two at once, never three
        "big": {"resources": {"grading": 2, "MEMORY": 64 * gib}},  # its slots bound it
        "small": {"resources": {"grading": 1, "MEMORY": 2 * gib}},  # no room for one
    }
    resources, slots, notes = task_resources(with_memory, need)
    assert resources == {"grading": 1, "MEMORY": need} and slots == 2 + 2
    assert len(notes) == 1 and "small" in notes[0]
    assert task_resources({}, need)[1] == 0


# ---------------------------------------------------------------------------------------------
# dask.yaml, the README's settings for grading clusters
# ---------------------------------------------------------------------------------------------
def _leaves(tree: dict, prefix: str = "") -> dict:
    found = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            found.update(_leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def test_every_setting_of_dask_yaml_is_one_dask_knows():
    """Dask ignores a misspelt key in silence: each one must name a setting of distributed's own defaults."""
    import distributed  # noqa: F401 (registers its defaults)
    import yaml
    from dask.config import defaults

    known = {}
    for tree in defaults:
        known.update(_leaves(tree))
    settings = _leaves(yaml.safe_load(CONFIG.read_text()))
    assert settings, "dask.yaml sets nothing"
    unknown = sorted(k for k in settings if k not in known)
    assert not unknown, f"dask.yaml sets keys that Dask does not have (misspelt?): {unknown}"


def test_the_clusters_workers_and_scheduler_run_with_dask_yaml(cluster):
    """The scheduler and every worker started as the README says read dask.yaml (the test's own
    allowed-failures, from the environment, overrides the file's)."""
    import yaml

    wanted = _leaves(yaml.safe_load(CONFIG.read_text()))

    def config_of(keys: list[str], dask_worker=None, dask_scheduler=None) -> dict:  # sent by value
        import dask.config

        return {k: dask.config.get(k) for k in keys}

    client = cluster.client()
    try:
        on_workers = client.run(config_of, list(wanted))
        on_scheduler = client.run_on_scheduler(config_of, list(wanted))
    finally:
        client.close()
    assert on_workers, "no worker answered"
    wanted["distributed.scheduler.allowed-failures"] = ALLOWED_FAILURES
    for where, got in [*on_workers.items(), ("scheduler", on_scheduler)]:
        assert got == wanted, f"{where} does not run with dask.yaml's settings: {got}"
