"""Nobody can game the grade (issue 5): the adversarial corpus against the project's grader.

The corpus (``cases.py``) is built into one folder — every case and every twin — and graded by one
run of the project's grader (the expensive part, a module fixture: ``-j 2``, a 240 s wall clock, a
30 s cell timeout, a 3 GiB memory cap). A case that attacks the submissions graded next to it (the
fork storm) gets a small run of its own, next to its twin. Then:

- every case scores exactly as its honest twin, question by question (one test per case; a case the
  grader does not hold yet is marked ``xfail(strict=True)`` with the reason, in ``KNOWN_HOLES``);
- every CSV has a row per submission and no ``grader error`` (but for the known holes);
- the machine is as the runs found it: no process of theirs alive (new processes that name the run,
  or sandbox processes adopted by init); no file left outside OUT — none in the grader's own
  temporary folder, and no new file written by a sandbox (its own uid) or named by an attack in
  /tmp, /dev/shm, the repository (tracked and untracked) or the run's folder; the data cache
  unchanged; nothing left by a zip member or a pickle; no request to the loopback server.

New files of other users in /tmp or the repository are not counted: this machine is shared, and
everything the untrusted side can write is owned by a sandbox uid.

This batch is issue 5's "batch of 20 mixed attacks": about 30 attacks, some 6 minutes here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import cases
import grade_fixtures as fx
import harness
import psutil
import pytest
from helpers import ROOT, ZIP

from ds201_lab1.data import cache_dir
from ds201_lab1.grade.isolation import SANDBOX_UIDS  # whoever runs the notebooks

# Cases the project's grader does not hold yet: why, and what would fix it.
KNOWN_HOLES: dict[str, str] = {}


@dataclass
class Outcome:
    """The corpus graded, and what the runs left on the machine."""

    graded: harness.Graded
    work: Path
    requests: list[str]
    left: list[str] = field(default_factory=list)
    new_files: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The machine before and after
# ---------------------------------------------------------------------------------------------
def _top(folder: str) -> set[str]:
    try:
        return {n for n in os.listdir(folder) if not n.startswith("pytest-of-")}
    except OSError:
        return set()


def _repo_files() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return {p for p in out.decode().split("\0") if p and "__pycache__" not in p}


def _data_cache() -> dict[str, tuple[int, int, int]]:
    out = {}
    for path in cache_dir().rglob("*"):
        st = path.lstat()
        out[str(path)] = (st.st_size, st.st_mtime_ns, st.st_uid)
    return out


def machine_state() -> dict:
    return {
        "tmp": _top("/tmp"),
        "shm": _top("/dev/shm"),
        "repo": _repo_files(),
        "data": _data_cache(),
        "pids": {(p.pid, p.info["create_time"]) for p in psutil.process_iter(["create_time"])},
    }


def _attack_made(path: str) -> bool:
    """A file the sandbox wrote (it runs as a sandbox uid) or an attack named; other users' files are not ours."""
    try:
        return cases.TAG in os.path.basename(path) or os.lstat(path).st_uid in SANDBOX_UIDS
    except OSError:
        return False


def _walk(folder: Path, seconds: float = 10) -> list[str]:
    """``_attack_made`` files under ``folder`` (a bounded walk, without .git and .venv)."""
    found, deadline = [], time.monotonic() + seconds
    for dirpath, dirnames, filenames in os.walk(folder):
        if time.monotonic() > deadline:
            break
        dirnames[:] = [d for d in dirnames if d not in (".git", ".venv")]
        found += [p for p in (os.path.join(dirpath, n) for n in dirnames + filenames) if _attack_made(p)]
    return found


def _left_processes(before: dict, work: Path) -> list[psutil.Process]:
    """New live processes that name the run (tag, folder) or run as a sandbox uid, adopted by init."""
    mine = {p.pid for p in harness.attack_processes(work)}
    new = []
    for p in psutil.process_iter(["create_time"]):
        if (p.pid, p.info["create_time"]) in before["pids"] or p.pid == os.getpid():
            continue
        try:
            orphan = p.uids().real in SANDBOX_UIDS and p.ppid() in (0, 1)
        except psutil.Error:
            continue
        if p.pid in mine or orphan:
            new.append(p)
    return new


# ---------------------------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outcome(tmp_path_factory) -> Outcome:
    work = tmp_path_factory.mktemp("adversarial")
    (work / "tmp").mkdir()  # the grader's own temporary files: none may be left
    autograder = Path(shutil.copy(ZIP, work / ZIP.name))
    before = machine_state()
    with harness.AnswerServer(cases.served_answers()) as server:
        arena = cases.Arena(work, server.url)
        graded = harness.grade_corpus(work, arena, cases.CASES, {"TMPDIR": str(work / "tmp")}, autograder)
        time.sleep(5)  # anything that escaped would rewrite the results within a second or two
        requests = list(server.requests)
    for run in graded.runs:
        assert run.returncode in (0, 2), f"the grader failed ({run.returncode}):\n{run.stderr[-5000:]}"
    result = Outcome(graded, work, requests)
    left = _left_processes(before, work)
    result.left = harness.describe(left)
    harness.kill(left)
    after = machine_state()
    new = [f"/tmp/{n}" for n in after["tmp"] - before["tmp"]] + [f"/dev/shm/{n}" for n in after["shm"] - before["shm"]]
    new += [str(ROOT / n) for n in after["repo"] - before["repo"]]
    result.new_files = sorted(
        {p for p in new if _attack_made(p)}
        | {p for n in new if os.path.isdir(n) for p in _walk(Path(n), 2)}
        | set(_walk(work))
        | set(_walk(ROOT))
        | {str(p) for p in (work / "tmp").iterdir()}
    )
    result.changed = sorted(
        p for p in before["data"].keys() | after["data"].keys() if before["data"].get(p) != after["data"].get(p)
    )
    result.markers = sorted(str(p) for p in arena.markers.iterdir())
    result.markers += [str(p) for p in Path("/tmp").glob(f"{cases.TAG}-zip-*")]
    print(f"\nadversarial: {sum(len(r.rows) for r in graded.runs)} submissions graded in {graded.elapsed:.0f} s")
    return result


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
def _param(case: cases.Case):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_HOLES[case.id])] if case.id in KNOWN_HOLES else []
    return pytest.param(case.id, id=case.id, marks=marks)


@pytest.mark.parametrize("case_id", [_param(c) for c in cases.CASES])
def test_case_scores_as_its_twin(outcome: Outcome, case_id: str):
    graded = outcome.graded
    case = next(c for c in cases.CASES if c.id == case_id)
    twin = f"twin:{case.twin}"
    ours, theirs = graded.scores(case_id), graded.scores(case_id, twin)
    status = graded.status(case_id)
    moved = {q: (ours[q], theirs[q]) for q in graded.questions if ours[q] != theirs[q]}
    assert not moved, (
        f"{case_id} ({case.attack}): {harness.compare(ours, theirs)}; question: (case, twin) = {moved}; "
        f"status {status!r}, twin's {graded.status(case_id, twin)!r}"
    )
    assert not status.startswith("grader error"), f"{case_id}: {status}"


def test_the_bases_score_as_expected(outcome: Outcome):
    """The twins are honest notebooks: the project's grader must give them what they earn."""
    graded = outcome.graded
    earned = {
        "blank": set(),
        "partial": set(fx.CHEAP) - {fx.WRONG},
        "partial_zip": set(fx.CHEAP) - {fx.WRONG},
        "values": set(cases.LITERAL_QUESTIONS),
        "fake_training": set(),
    }
    batch = graded.runs[0]
    used = {c.twin for c in cases.CASES}
    assert used <= set(earned), f"twins without an expected score: {used - set(earned)}"
    for twin, questions in earned.items():
        if twin not in used:  # no case of the corpus is laid on this base (then it is not built)
            continue
        got = harness.question_scores(batch.rows[batch.files[f"twin:{twin}"].name], graded.questions)
        want = {q: graded.points[q] if q in questions else 0.0 for q in graded.questions}
        assert got == want, f"{twin}: {harness.compare(got, want)}; { ({q: got[q] for q in got if got[q] != want[q]}) }"


def test_every_submission_has_a_row_and_no_grader_error(outcome: Outcome):
    errors = {}
    for run in outcome.graded.runs:
        assert sorted(run.rows) == sorted(p.name for p in run.subs.iterdir()), run.out
        holes = {run.files[k].name for k in KNOWN_HOLES if k in run.files}
        if any(c.neighbour for c in cases.CASES if c.id in KNOWN_HOLES and c.id in run.files):
            holes = set(run.rows)  # a known neighbour attack: its whole run is the hole's
        errors.update(
            {
                f: r["grading_status"]
                for f, r in run.rows.items()
                if r["grading_status"].startswith("grader error") and f not in holes
            }
        )
    assert not errors, errors


def test_no_process_of_the_run_is_left(outcome: Outcome):
    assert not outcome.left, f"still running after the grader (now killed): {outcome.left}"


def test_no_file_is_left_outside_out_and_the_data_is_untouched(outcome: Outcome):
    assert not outcome.new_files, f"files left by the run: {outcome.new_files}"
    assert not outcome.changed, f"the data cache changed: {outcome.changed}"
    for run in outcome.graded.runs:
        assert not list((run.out / ".scratch").iterdir()), f"{run.out}/.scratch is not empty"


def test_no_zip_member_was_extracted_and_no_pickle_ran(outcome: Outcome):
    assert not outcome.markers, outcome.markers
    leaked = [p for p in outcome.work.rglob(f"{cases.TAG}-zip-*")]
    assert not leaked, leaked


def test_the_loopback_server_saw_no_request(outcome: Outcome):
    assert outcome.requests == []
