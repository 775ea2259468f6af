"""The class grader (issue 4): execute untrusted, verify trusted, cache, report.

Cheap tests first (reading submissions, the data-only round trip, the model allow-list, the
sandbox's view), then one batch run once per module: the solution, the blank notebook, a notebook
with one wrong answer, one that loops forever, one that calls ``os._exit``, one that is not JSON,
two that allocate far too much memory and a few malformed files. Its scores are compared with
``otter run``'s; a second run must execute nothing and write the same CSV; a threshold change must
re-grade from the cache in seconds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import grade_fixtures as fx
import nbformat
import numpy as np
import pytest
from helpers import AUTOGRADER, ZIP, grade, grading_log, otter_run, otter_scores, read_grades

from ds201_lab1 import spec
from ds201_lab1.grade import execute, isolation, rebuild, report, snapshot, submissions, verify
from ds201_lab1.grade.cache import Cache, Limits

TIMEOUT = 900  # per submission in the batch (the solution takes 3–5 minutes with 2 jobs on 2 cores)
CELL_TIMEOUT = 150  # per cell: the solution's longest cell takes under a minute; the endless loop is stopped
HOG_GIB = 5  # the batch's memory cap (the solution peaks near 3.5 GiB)
GRADE_ARGS = ("-j", "2", "--timeout", str(TIMEOUT), "--cell-timeout", str(CELL_TIMEOUT), "--memory", str(HOG_GIB))


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-j", "0"], "-j must be at least 1"),
        (["--threads", "0"], "--threads must be at least 1"),
        (["--autograder", "/nonexistent.zip"], "run `make assignment`"),
    ],
)
def test_bad_arguments_name_the_fix(tmp_path, capsys, extra, message):
    from ds201_lab1.grade import cli

    with pytest.raises(SystemExit):
        cli.parse_args([str(tmp_path), str(tmp_path / "out"), *extra])
    assert message in capsys.readouterr().err


def test_threads_default_to_the_cores_shared_by_the_jobs(monkeypatch):
    from ds201_lab1.grade import cli

    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    assert [cli.threads_per_job(j) for j in (1, 2, 3)] == [2, 1, 1]
    assert cli.threads_per_job(2, asked=2) == 2


def test_the_verifier_imports_keras_without_its_extras_and_a_check_can_still_import_them():
    """Keras's optional imports (scikit-learn, pandas, matplotlib, SciPy) are hidden while the
    verifier warms up, for its start-up time; a hidden test that needs one must still get it."""
    code = (
        "import sys, pathlib\n"
        "from ds201_lab1.grade import KERAS_EXTRAS, verify\n"
        f"verify.warm_up(pathlib.Path({str(AUTOGRADER)!r}))\n"
        "print('loaded', sorted(m for m in KERAS_EXTRAS if sys.modules.get(m)))\n"
        "import sklearn.metrics, scipy.special\n"
        "print('imported', sklearn.metrics.accuracy_score([1, 2], [1, 3]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "loaded []" in proc.stdout and "imported 0.5" in proc.stdout, proc.stdout


# ---------------------------------------------------------------------------------------------
# Reading submissions
# ---------------------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


def _status(path: Path, root: Path) -> str | None:
    rejected = submissions.read_submission(path, root, "lab1").rejected
    return rejected.status() if rejected else None


def test_malformed_submissions_get_a_clear_status(tmp_path):
    good = nbformat.writes(fx.blank()).encode()
    (tmp_path / "notjson.ipynb").write_text("{ not json")
    (tmp_path / "list.ipynb").write_text("[1, 2]")
    (tmp_path / "zero.ipynb").write_bytes(b"")
    other = fx.blank()
    other.metadata["otter"]["assignment_name"] = "lab2"
    fx.write(other, tmp_path / "lab2.ipynb")
    empty = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
    fx.write(empty, tmp_path / "empty.ipynb")
    _zip(tmp_path / "climb.zip", {"../evil.ipynb": good})
    _zip(tmp_path / "absolute.zip", {"/abs.ipynb": good})
    _zip(tmp_path / "link.zip", {"notes.txt": b""}, symlink="data.ipynb")
    _zip(tmp_path / "two.zip", {"a.ipynb": good, "b.ipynb": good})
    _zip(tmp_path / "none.zip", {"notes.txt": b"hello"})
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    expected = {
        "notjson.ipynb": "not a notebook: invalid JSON",
        "list.ipynb": "not a notebook",
        "zero.ipynb": "empty file",
        "lab2.ipynb": "wrong assignment: 'lab2'",
        "empty.ipynb": "empty notebook",
        "climb.zip": "not a submission: the zip holds no notebook (ignored: member '../evil.ipynb' climbs out",
        "absolute.zip": "not a submission: the zip holds no notebook (ignored: member '/abs.ipynb' has an absolute",
        "link.zip": "not a submission: the zip holds no notebook (ignored: member 'data.ipynb' is a symlink",
        "two.zip": "not a submission",
        "none.zip": "not a submission",
        "broken.zip": "not a zip file",
    }
    for name, start in expected.items():
        status = _status(tmp_path / name, tmp_path)
        assert status and status.startswith(start), f"{name}: {status!r}"


def test_export_zip_yields_its_notebook_and_never_opens_the_otter_log(tmp_path, monkeypatch):
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *a, **k):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *a, **k)

    path = fx.export_zip(fx.blank(), tmp_path / "s.zip")
    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    sub = submissions.read_submission(path, tmp_path, "lab1")
    assert sub.rejected is None and sub.notebook_name == "lab1.ipynb" and sub.notebook["cells"]
    assert opened == ["lab1.ipynb"]


def test_zip_members_that_cannot_be_the_notebook_are_ignored_not_fatal(tmp_path):
    good = nbformat.writes(fx.blank()).encode()
    path = _zip(tmp_path / "s.zip", {"lab1.ipynb": good, "../x.ipynb": good, "/etc/y.ipynb": good}, symlink="z.ipynb")
    sub = submissions.read_submission(path, tmp_path, "lab1")
    assert sub.rejected is None and sub.notebook_name == "lab1.ipynb", sub.rejected


def test_oversized_zip_member_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "MAX_NOTEBOOK_BYTES", 1000)
    path = _zip(tmp_path / "big.zip", {"lab1.ipynb": nbformat.writes(fx.blank()).encode()})
    assert _status(path, tmp_path).startswith("unsafe zip")


def test_discover_skips_hidden_and_output_folders(tmp_path):
    for rel in ("a.ipynb", "sub/b.zip", ".hidden/c.ipynb", ".ipynb_checkpoints/d.ipynb", "out/e.ipynb", "f.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in submissions.discover(tmp_path, exclude=(tmp_path / "out",))]
    assert found == ["a.ipynb", "sub/b.zip"]


# ---------------------------------------------------------------------------------------------
# Data only: what the kernel saves, the verifier rebuilds
# ---------------------------------------------------------------------------------------------
def _round_trip(values: dict, artifacts: Path, probes: dict | None = None) -> dict:
    folder = artifacts / "q"
    folder.mkdir(parents=True)
    writer = snapshot._Writer(str(folder), probes or {})
    encoded = {k: writer.encode(v, name=k) for k, v in values.items()}
    json.dumps(encoded)  # plain JSON, nothing else
    decoder = rebuild.Decoder(folder)
    return {k: decoder.value(json.loads(json.dumps(e))) for k, e in encoded.items()}


def test_plain_values_round_trip_with_their_types(tmp_path):
    values = {
        "t": (None, 784),
        "s": {np.uint8(3), np.uint8(7)},
        "d": {1: 5923, 2: 6742},
        "f": float("nan"),
        "i": np.int64(60000),
        "x": np.float32(0.25),
        "b": True,
        "text": "Modified",
        "nested": [[1, 2.5], ("a", frozenset({1}))],
        "arr": np.arange(12, dtype=np.uint8).reshape(3, 4),
        "obj": np.array([object()], dtype=object),
        "other": io.StringIO("x"),
        "series": __import__("pandas").Series([5923, 6742], index=[0, 1]),
    }
    got = _round_trip(values, tmp_path)
    assert got["series"] == {0: 5923, 1: 6742}  # a pandas Series comes back as the mapping it is
    assert got["t"] == (None, 784) and isinstance(got["t"], tuple)
    assert got["s"] == {3, 7} and isinstance(got["s"], set) and all(isinstance(v, np.uint8) for v in got["s"])
    assert got["d"] == {1: 5923, 2: 6742} and all(isinstance(k, int) for k in got["d"])
    assert np.isnan(got["f"])
    assert type(got["i"]) is np.int64 and got["i"] == 60000
    assert type(got["x"]) is np.float32 and got["x"] == np.float32(0.25)
    assert got["b"] is True and got["text"] == "Modified"
    assert got["nested"] == [[1, 2.5], ("a", frozenset({1}))]
    assert isinstance(got["arr"], np.ndarray), type(got["arr"])
    assert got["arr"].dtype == np.uint8 and np.array_equal(got["arr"], values["arr"])
    assert type(got["obj"]).__name__.startswith("ndarray") and rebuild.is_opaque(got["obj"])
    assert type(got["other"]).__name__ == "StringIO" and rebuild.is_opaque(got["other"])
    assert not list(tmp_path.glob("*.pkl"))


def test_functions_are_replayed_on_the_recorded_probes_only(tmp_path):
    x = np.array([-1.0, 0.0, 2.0])
    probes = {"relu": [json.loads(rebuild.probe_key((x,), {}))]}
    got = _round_trip({"relu": lambda v: np.maximum(v, 0), "boom": None}, tmp_path, probes)
    assert np.array_equal(got["relu"](x.copy()), [0.0, 0.0, 2.0])
    with pytest.raises(rebuild.ProbeNotRecorded):
        got["relu"](np.array([5.0]))

    def broken(v):
        raise ValueError("nope")

    got = _round_trip({"relu": broken}, tmp_path / "b", probes)
    with pytest.raises(Exception, match="nope") as info:
        got["relu"](x.copy())
    assert type(info.value).__name__ == "ValueError"


def test_the_plan_takes_the_probes_and_files_from_the_spec():
    plan = verify.plan(AUTOGRADER)
    probes = plan["snapshot"]["probes"]
    assert set(probes) == set(spec.PROBES)
    for name, calls in spec.PROBES.items():
        calls = [*calls, *verify.PUBLIC_PROBES[name]]  # the public tests' calls are answered too
        want = [json.loads(rebuild.probe_key(spec.probe_arrays(args), {})) for args in calls]
        assert probes[name] == want, name
    assert plan["questions"]["q6_save"]["files"] == spec.SAVED_FILES["q6_save"]
    assert plan["snapshot"]["files"] == spec.SAVED_FILES
    assert plan["questions"]["ex1"]["possible"] == 3
    assert plan["snapshot"]["values"]["q3_activations"] == ["sigmoid", "tanh", "relu"]


def test_the_checks_call_students_functions_on_the_probes_only(tmp_path):
    """Replayed functions raise on any input but the spec's probes: the real checks must pass on them."""
    from ds201_lab1 import checks

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def bce_loss(y_hat, y):
        y_hat = np.clip(y_hat, 1e-7, 1 - 1e-7)
        return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))

    functions = {
        "sigmoid": sigmoid,
        "tanh": np.tanh,
        "relu": lambda x: np.maximum(x, 0),
        "bce_loss": bce_loss,
        "bce_cost": lambda y_hat, y: float(np.mean(bce_loss(y_hat, y))),
    }
    probes = verify.plan(AUTOGRADER)["snapshot"]["probes"]
    got = _round_trip(functions, tmp_path, probes)
    checks.q3_activations(got["sigmoid"], got["tanh"], got["relu"])
    checks.q4_bce(got["bce_loss"], got["bce_cost"])


def _small_model(layers=None):
    import keras

    model = keras.Sequential(
        [
            keras.Input((784,)),
            *(layers or [keras.layers.Dense(8, activation="relu")]),
            keras.layers.Dense(10, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=keras.losses.BinaryCrossentropy())
    x = np.random.default_rng(0).random((64, 784)).astype("float32")
    model.fit(x, np.eye(10)[np.arange(64) % 10], batch_size=32, epochs=1, verbose=0)
    return model, x


def test_models_are_rebuilt_from_architecture_and_weights(tmp_path):
    import keras

    model, x = _small_model()
    got = _round_trip({"m": model, "same": model}, tmp_path)["m"]
    assert len(list((tmp_path / "models").iterdir())) == 1, "one model taken twice must be saved once"
    assert isinstance(got, keras.Sequential)
    assert type(got.optimizer).__name__ == "Adam" and int(got.optimizer.iterations) == 2
    assert abs(float(np.asarray(got.optimizer.learning_rate)) - 0.01) < 1e-7
    assert type(got.loss).__name__ == "BinaryCrossentropy"
    assert np.allclose(model(x), got(x), atol=1e-6)


def test_models_outside_the_allow_list_become_a_clear_marker(tmp_path):
    import keras

    model, _ = _small_model([keras.layers.Lambda(lambda t: t * 2), keras.layers.Dense(8)])
    got = _round_trip({"m": model}, tmp_path)["m"]
    assert rebuild.is_opaque(got) and "not allowed" in type(got).__name__
    from ds201_lab1 import checks

    with pytest.raises(checks.CheckFailed, match="Keras"):
        checks.ex1_spec(got)


def test_hidden_messages_keep_only_the_checks_text():
    head = "❌ Test case failed\nError at line 9 in test q1:\n"
    otter_text = head + "    checks.q1(x)\nCheckFailed: `x` chưa đúng.\n`x` is not right."
    assert verify.case_message(False, True, otter_text, None) == "`x` chưa đúng.\n`x` is not right."
    other = "❌ Test case failed\nError at line 9 in test q1:\n    assert x == 42\nAssertionError: 42 != 41"
    hidden = verify.case_message(False, True, other, "Question 1 is not right")
    assert "42" not in hidden and "Error at line" not in hidden and "AssertionError" in hidden
    assert verify.case_message(False, False, other, None) == other


# ---------------------------------------------------------------------------------------------
# The sandbox, seen from inside
# ---------------------------------------------------------------------------------------------
PROBE_CELLS = {
    "checks": "import ds201_lab1.checks",
    "nobody": f"import os\nassert os.getuid() in {isolation.SANDBOX_UIDS!r}, os.getuid()",
    "data": "from ds201_lab1.data import mnist\nassert mnist()[0][0].shape == (60000, 28, 28)",
    "repo": f"import os\nassert os.path.exists({str(AUTOGRADER)!r}), 'hidden'",
    "net": "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)",
    "ok": "x = 1",
}
NOTHING_SAVED = {"values": {}, "probes": {}, "files": {}}


def _execute(tmp_path: Path, nb: dict, *, timeout: float = 300, cell_timeout: float | None = None, saved=None):
    """One execution of ``nb`` (saving ``saved``, else nothing) in the strongest sandbox here:
    ``(execution, mode, note)``."""
    from ds201_lab1.data import cache_dir

    mode, note = isolation.detect("auto", tmp_path, [AUTOGRADER])
    limits = Limits(timeout, 4 * 2**30, 8 * 2**30, cell_timeout)
    files = execute.kernel_files(AUTOGRADER)
    settings = execute.Settings(tmp_path / "scratch", files, cache_dir(), limits, 1, saved or NOTHING_SAVED)
    cache = Cache(tmp_path / "cache", "test", limits)
    return execute.execute("0" * 64, nb, "lab1.ipynb", settings, mode, cache), mode, note


def _tiny(*sources: str) -> dict:
    nb = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    return nb


def test_notebook_runs_without_the_checks_or_the_repository(tmp_path):
    ex, mode, note = _execute(tmp_path, _tiny(*PROBE_CELLS.values()))
    assert ex.outcome.kind == "ok", ex.outcome
    failed = {e["cell"]: e["ename"] for e in ex.meta["errors"]}
    names = list(PROBE_CELLS)
    assert failed.get(names.index("checks")) == "ModuleNotFoundError", f"{note}: {failed}"
    assert names.index("data") not in failed and names.index("ok") not in failed
    if mode != "none":
        assert failed.get(names.index("repo")) == "AssertionError", "the repository is visible from the sandbox"
        assert names.index("net") in failed, "the sandbox reached the network"
    if mode == "namespaces":
        assert names.index("nobody") not in failed, "the kernel does not run as the sandbox's own user"


STUBBORN = """\
import subprocess, time
subprocess.Popen(["sleep", "987654"], start_new_session=True)  # escapes the process group
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
"""


def test_wall_clock_limit_kills_the_whole_tree(tmp_path):
    import psutil

    start = time.monotonic()
    ex, _, _ = _execute(tmp_path, _tiny("x = 1", STUBBORN), timeout=25, cell_timeout=5)
    assert ex.outcome.kind == "timeout", ex.outcome
    assert ex.outcome.status() == "timeout after 25 s (cell 2); graded on the answers saved before"
    assert ex.artifacts is not None and ex.artifacts.is_dir()  # what was saved before the kill is graded
    assert time.monotonic() - start < 60
    time.sleep(1)
    left = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "987654"]]
    assert not left, f"processes survived the kill: {left}"


def test_cell_timeout_interrupts_one_cell_and_the_notebook_goes_on(tmp_path):
    ex, _, _ = _execute(tmp_path, _tiny("while True:\n    pass", "y = 2"), timeout=600, cell_timeout=5)
    assert ex.outcome.kind == "cell_timeout", ex.outcome
    assert ex.outcome.status().startswith("cell 1 stopped after 5 s"), ex.outcome.status()
    assert [e["ename"] for e in ex.meta["errors"]] == ["KeyboardInterrupt"]


def test_cell_limit_never_applies_to_the_graders_own_cells(tmp_path):
    """The grader's check cell records the student's function on its probe, which takes 8 s here: over
    the 5 s cell limit, yet nothing is interrupted or charged to the student (the wall clock bounds it)."""
    x = json.loads(rebuild.probe_key((np.array([1.0]),), {}))
    saved = {"values": {"q": ["slow"]}, "probes": {"slow": [x]}, "files": {}}
    nb = _tiny("import time\n\ndef slow(x):\n    time.sleep(8)\n    return x")
    ex, _, _ = _execute(tmp_path, nb, timeout=600, cell_timeout=5, saved=saved)
    assert ex.outcome.kind == "ok", ex.outcome.status()
    assert ex.meta["errors"] == [] and ex.meta["cell_timeouts"] == []
    assert ex.meta["seconds"]["grader cells"] >= 8
    replayed = rebuild.Decoder(ex.artifacts / "q").value(
        json.loads((ex.artifacts / "q" / "manifest.json").read_text())["values"]["slow"]
    )
    assert np.array_equal(replayed(np.array([1.0])), [1.0])  # the probe ran to its end


def test_identical_submissions_are_executed_once(tmp_path):
    """Two copies of one file (and --force): one execution, both graded, the CLI end to end."""
    subs = tmp_path / "subs"
    subs.mkdir()
    tiny = _tiny("layer_kinds = ['input', 'hidden', 'output']")
    for name in ("a.ipynb", "b.ipynb"):
        fx.write(tiny, subs / name)
    _grade(subs, tmp_path / "out", "-j", "2", "--force", "--timeout", "120")
    _, rows = read_grades(tmp_path / "out" / "final_grades.csv")
    log = grading_log(tmp_path / "out")[-1]
    assert sorted(e["how"] for e in log) == ["cached", "executed"]
    assert [float(rows[n]["q0_layers"]) for n in ("a.ipynb", "b.ipynb")] == [1.0, 1.0]
    assert rows["a.ipynb"]["grading_status"] == "ok"


# ---------------------------------------------------------------------------------------------
# The verifiers: one long-lived trusted process per job
# ---------------------------------------------------------------------------------------------
def test_verifier_answers_many_requests_and_is_replaced_when_it_dies_or_hangs(tmp_path):
    from ds201_lab1.data import cache_dir
    from ds201_lab1.grade.cli import child_env
    from ds201_lab1.grade.verifiers import VerifyPool

    artifacts, plan = tmp_path / "artifacts", verify.plan(AUTOGRADER)
    artifacts.mkdir()  # an execution that saved nothing: every question is graded 0
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    pool = VerifyPool(1, AUTOGRADER, tmp_path / "plan.json", child_env(1, cache_dir()), 4 * 2**30)
    pool.launch()
    try:
        with pool.worker() as v:
            first, problem = v.verify(artifacts, 300)
            pid = v.proc.pid
            second, _ = v.verify(artifacts, 300)
            assert problem == "" and v.proc.pid == pid, "the second request did not reuse the process"
            assert set(first) == set(plan["questions"]) and first == second
            assert all(q["score"] == 0 for q in first.values())
            os.kill(pid, signal.SIGKILL)
            v.proc.wait()
            third, problem = v.verify(artifacts, 300)
            assert problem == "" and v.proc.pid != pid and third == first
            os.kill(v.proc.pid, signal.SIGSTOP)  # hangs: it will never answer
            _, problem = v.verify(artifacts, 2)
            assert problem.startswith("verifying hit the time limit") and v.proc is None
            fifth, problem = v.verify(artifacts, 300)
            assert problem == "" and fifth == first
    finally:
        pool.close()
    assert all(v.proc is None for v in pool.all)


# ---------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------
def _grade(subs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    proc = grade(subs, out, *extra)
    assert proc.returncode == 0, f"grader failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def _rows(out: Path) -> dict[str, dict[str, str]]:
    return read_grades(out / "final_grades.csv")[1]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict:
    """One run of the grader over every kind of submission (the expensive part, once)."""
    work = tmp_path_factory.mktemp("grade")
    subs = work / "subs"
    files = fx.cheap_batch(subs)
    # sorted order is start order: the two long ones first, side by side
    shutil.copy(AUTOGRADER / "lab1.ipynb", subs / "0_solution.ipynb")
    files["loop"] = files["loop"].rename(subs / "1_loop.ipynb")
    out = work / "out"
    start = time.monotonic()
    proc = _grade(subs, out, *GRADE_ARGS)
    elapsed = time.monotonic() - start
    return {"subs": subs, "out": out, "elapsed": elapsed, "stderr": proc.stderr, "work": work}


def test_batch_writes_a_complete_csv_in_otters_format(batch):
    text = (batch["out"] / "final_grades.csv").read_text()
    reader = list(csv.reader(io.StringIO(text)))
    header, points = reader[0], reader[1]
    plan = json.loads((batch["out"] / ".work" / "plan.json").read_text())
    questions = sorted(plan["questions"])
    assert header == ["file", *questions, "total_points_earned", "percent_correct", "grading_status"]
    assert points[0] == "points-per-question" and points[-1] == "--"
    assert float(points[-3]) == sum(info["possible"] for info in plan["questions"].values())
    files = sorted(p.relative_to(batch["subs"]).as_posix() for p in batch["subs"].iterdir())
    assert [r[0] for r in reader[2:]] == files


def test_batch_statuses_say_what_happened(batch):
    rows = _rows(batch["out"])
    expect = {
        "0_solution.ipynb": "ok",
        "blank.ipynb": "ok",
        "wrong.zip": "ok",
        "1_loop.ipynb": "cell 4 stopped after 150 s (cell timeout)",
        "exit.ipynb": "kernel died",
        "memory.ipynb": "memory",
        "hog.ipynb": f"memory limit {HOG_GIB} GiB exceeded",
        "notjson.ipynb": "not a notebook",
        "lab2.ipynb": "wrong assignment: 'lab2'",
        "empty.ipynb": "empty notebook",
    }
    for name, start in expect.items():
        assert rows[name]["grading_status"].startswith(start), f"{name}: {rows[name]['grading_status']}"
        if name not in ("0_solution.ipynb", "wrong.zip"):
            assert float(rows[name]["total_points_earned"]) == 0, name
    timings = {e["file"]: e["elapsed"] for e in grading_log(batch["out"])[0]}
    assert timings["1_loop.ipynb"] < CELL_TIMEOUT + 240
    assert timings["hog.ipynb"] < 120 and timings["exit.ipynb"] < 120


def test_scores_equal_otter_runs(batch, solution_run, blank_run):
    rows = _rows(batch["out"])
    plan = json.loads((batch["out"] / ".work" / "plan.json").read_text())
    wrong_nb = batch["work"] / "wrong-otter" / "lab1.ipynb"
    fx.write(fx.one_wrong(), wrong_nb)
    wrong_results = otter_run(wrong_nb, batch["work"] / "wrong-otter" / "out")
    for name, results in (
        ("0_solution.ipynb", solution_run[0]),
        ("blank.ipynb", blank_run),
        ("wrong.zip", wrong_results),
    ):
        theirs = otter_scores(results)
        ours = {q: float(rows[name][q]) for q in plan["questions"]}
        assert ours == {q: theirs.get(q, (0.0, 0.0))[0] for q in plan["questions"]}, name
    total = sum(info["possible"] for info in plan["questions"].values())
    assert float(rows["0_solution.ipynb"]["total_points_earned"]) == total
    wrong_points = plan["questions"][fx.WRONG]["possible"]
    cheap = sum(plan["questions"][q]["possible"] for q in fx.CHEAP)
    assert float(rows["wrong.zip"]["total_points_earned"]) == cheap - wrong_points


def test_feedback_explains_without_revealing_the_answer(batch):
    feedback = batch["out"] / "feedback"
    assert {p.name for p in feedback.iterdir()} == {report.feedback_name(r) for r in _rows(batch["out"])}
    text = (feedback / "wrong.md").read_text()
    assert f"`{fx.WRONG}`" in text and "chưa đúng" in text and "is not right" in text
    assert "Modified National Institute" not in text  # the expected answer
    section = text.split(f"### `{fx.WRONG}`")[1].split("###")[0]
    assert "Error at line" not in section  # the hidden test's source stays hidden
    assert "Kernel" in (feedback / "exit.md").read_text()
    loop = (feedback / "1_loop.md").read_text()
    assert "interrupted" in loop and "could not be graded" not in loop


def test_class_summary_and_histogram(batch):
    out = batch["out"]
    data = json.loads((out / "summary.json").read_text())
    assert data["submissions"] == len(_rows(out))
    assert set(data["questions"]["q0_layers"]) == {"possible", "mean", "pass_rate"}
    assert data["statuses"]["ok"] == 3 and data["statuses"]["cell timeout (graded)"] == 1
    assert (out / "score_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Pass rate" in (out / "summary.md").read_text()


def test_second_run_executes_nothing_and_writes_the_same_csv(batch):
    out = batch["out"]
    before = (out / "final_grades.csv").read_bytes()
    proc = _grade(batch["subs"], out, *GRADE_ARGS)
    last = grading_log(out)[-1]
    assert [e["file"] for e in last if e["how"] == "executed"] == []
    assert (out / "final_grades.csv").read_bytes() == before
    # The sandbox tests itself before the first execution only: not at all when nothing executes.
    assert re.search(r"^sandbox: ", batch["stderr"], re.M) and "sandbox:" not in proc.stderr


def test_threshold_change_regrades_from_the_cache(batch, tmp_path):
    """A stricter accuracy threshold in the autograder's spec: only verification runs again."""
    out = tmp_path / "out"
    shutil.copytree(batch["out"] / ".cache", out / ".cache", copy_function=os.link)
    autograder = tmp_path / "autograder"
    with zipfile.ZipFile(ZIP) as zf:
        zf.extractall(autograder)
    spec_py = autograder / "files" / "ds201_lab1" / "spec.py"
    stricter, n = re.subn(r'("base":\s*)[0-9.]+', r"\g<1>0.9999", spec_py.read_text())
    assert n == 1, "ACCURACY_THRESHOLDS['base'] not found in the autograder's spec.py"
    spec_py.write_text(stricter)
    _grade(batch["subs"], out, *GRADE_ARGS, "--autograder", str(autograder))
    assert [e["file"] for e in grading_log(out)[-1] if e["how"] == "executed"] == []
    rows, before = _rows(out), _rows(batch["out"])
    assert float(rows["0_solution.ipynb"]["q5_accuracy"]) == 0 < float(before["0_solution.ipynb"]["q5_accuracy"])
    assert rows["blank.ipynb"] == before["blank.ipynb"]
