"""Grade the adversarial corpus with the project's grader and with ``otter run``; write docs/adversarial.md.

    .venv/bin/python tools/adversarial_table.py [-j 2] [--only id,id] [--work DIR] [--out docs/adversarial.md]

The corpus is ``tests/adversarial/cases.py`` (the cases, their twins, how each is built). This tool
builds it once into a work folder (the *arena*), then

1. runs the project's grader over it as ``tests/adversarial/test_adversarial.py`` does (same
   arguments, ``harness.grade_corpus``);
2. runs ``otter run`` on every case and twin — the command of ``tests/conftest.py``'s ``otter_run``
   — each under a wall-clock cap and a memory cap on its whole process tree, with its own
   temporary, home and data folders inside the arena (the attacks run unsandboxed there; they write
   only inside the arena, see ``cases.py``); the cases that reach beyond their folders run alone.
   Processes an attack leaves behind are waited for (up to 15 s, so that a daemon's late rewrite is
   seen), listed and ended by their id; marker files and loopback requests are recorded;
3. writes the table: one row per case with the twin's score, the score on each grader and what
   happened.

Both graders use one copy of ``autograder/lab1-autograder.zip``, taken at the start. ``otter run``
takes about 20 s a case here and four cases run into the caps: about 20 minutes in all with
``-j 2`` (the project's grader's part is about 6 of them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "adversarial")]

import cases  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import ZIP  # noqa: E402
from helpers import otter_scores as scores  # noqa: E402

from ds201_lab1.data import cache_dir  # noqa: E402
from ds201_lab1.grade import processes  # noqa: E402

OTTER_CAP_SECONDS = 180  # a case that runs longer under otter run is recorded as "timeout"
OTTER_MEMORY_BYTES = 6 * 2**30  # the whole tree's resident memory
SURVIVOR_WAIT = 15  # seconds left to processes an attack leaves behind before they are ended


@dataclass
class OtterResult:
    scores: dict[str, float] | None  # None: no results (crashed, timeout, memory)
    problem: str = ""  # "crashed …", "timeout after …", "memory cap …"
    left: list[str] = field(default_factory=list)  # processes left running
    markers: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def otter_run(sub: Path, folder: Path, questions: list[str], autograder: Path) -> OtterResult:
    """``otter run`` on one submission, capped, in its own folders; what it scored and left."""
    for name in ("tmp", "home", "data", "out"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for name in ("mnist.npz", "cifar10.npz"):  # a copy: an attack may overwrite it (never a link)
        shutil.copyfile(cache_dir() / name, folder / "data" / name)
    env = {
        **os.environ,
        "TMPDIR": str(folder / "tmp"),
        "HOME": str(folder / "home"),
        "DS201_DATA_DIR": str(folder / "data"),
    }
    cmd = [
        sys.executable,
        "-m",
        "otter",
        "run",
        "-a",
        str(autograder),
        "-o",
        str(folder / "out"),
        "--no-logo",
        str(sub),
    ]
    start = time.monotonic()
    run = processes.supervise(
        cmd,
        env=env,
        cwd=folder,
        timeout=OTTER_CAP_SECONDS,
        memory_bytes=OTTER_MEMORY_BYTES,
        log=folder / "otter.log",
    )
    result = OtterResult(None, elapsed=time.monotonic() - start)
    deadline = time.monotonic() + SURVIVOR_WAIT
    left = harness.attack_processes(folder)
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = harness.attack_processes(folder)
    result.left = harness.describe(left)
    harness.kill(left)
    if run.killed == "timeout":
        result.problem = f"still running after {OTTER_CAP_SECONDS} s (this table's cap; otter run has none)"
    elif run.killed == "memory":
        result.problem = f"past {OTTER_MEMORY_BYTES // 2**30} GiB (this table's cap; otter run has none)"
    elif run.returncode != 0 or not (folder / "out" / "results.json").is_file():
        tail = processes.log_tail(folder / "otter.log", 2)
        result.problem = f"crashed (exit code {run.returncode}): {tail[-160:]}"
    if (folder / "out" / "results.json").is_file():
        got = scores(json.loads((folder / "out" / "results.json").read_text()))
        result.scores = {q: got.get(q, (0.0, 0.0))[0] for q in questions}
    shutil.rmtree(folder / "data", ignore_errors=True)
    shutil.rmtree(folder / "tmp", ignore_errors=True)
    return result


def _total(s: dict[str, float] | None) -> str:
    return "—" if s is None else f"{sum(s.values()):g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def otter_verdict(case: OtterResult, twin: OtterResult, server_hits: int, case_id: str) -> str:
    if case.problem.startswith("crashed"):
        parts = ["otter run crashed"]
    elif case.problem:
        parts = [f"killed: {case.problem}"]
    elif case.scores is None or twin.scores is None:
        parts = ["no results"]
    else:
        parts = [harness.compare(case.scores, twin.scores)]
    parts += case.markers
    if case.left:
        parts.append(f"left {len(case.left)} process(es) running")
    if server_hits and case_id == "network":
        parts.append(f"the server answered {server_hits} request(s)")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-j", "--jobs", type=int, default=2, help="otter runs at once (default 2)")
    p.add_argument("--only", default="", help="comma-separated case ids (default: all)")
    p.add_argument("--work", type=Path, default=None, help="the arena (default: a new temporary folder, removed)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "adversarial.md")
    p.add_argument("--skip-otter", action="store_true", help="only the project's grader (for a quick look)")
    args = p.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    corpus = tuple(c for c in cases.CASES if not only or c.id in only)
    work = (args.work or Path(tempfile.mkdtemp(prefix="ds201-adversarial-table-"))).resolve()
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    autograder = Path(shutil.copy(ZIP, work / ZIP.name))  # one version for both graders
    print(f"arena: {work}", file=sys.stderr)
    with harness.AnswerServer(cases.served_answers()) as server:
        arena = cases.Arena(work, server.url)
        graded = harness.grade_corpus(work, arena, corpus, {"TMPDIR": str(work / "tmp")}, autograder)
        for run in graded.runs:
            if run.returncode not in (0, 2):
                print(run.stderr[-3000:], file=sys.stderr)
                return 1
        print(f"project's grader: {graded.elapsed:.0f} s", file=sys.stderr)
        time.sleep(5)  # a daemon that escaped would have rewritten the CSV by now
        ours_hits = len(server.requests)
        left = harness.attack_processes(work)
        left_ours = harness.describe(left)
        harness.kill(left)

        subs: dict[str, Path] = {}  # what otter run grades: every case, each twin once
        for run in graded.runs:
            for key, path in run.files.items():
                if key != "filler":
                    subs.setdefault(key, path)
        otter: dict[str, OtterResult] = {}
        otter_hits = 0
        if not args.skip_otter:

            def job(key: str) -> tuple[str, OtterResult]:
                result = otter_run(subs[key], work / "otter" / key.replace(":", "_"), graded.questions, autograder)
                line = f"otter run {key}: {_total(result.scores)} {result.problem} {result.elapsed:.0f} s"
                print(line, file=sys.stderr)
                return key, result

            alone = {c.id for c in corpus if c.alone}
            with ThreadPoolExecutor(args.jobs) as pool:
                otter = dict(pool.map(job, [k for k in subs if k not in alone]))
            otter.update(job(k) for k in subs if k in alone)  # one at a time, nothing else running
            otter_hits = len(server.requests) - ours_hits
    leaks = sorted(str(p) for p in (*arena.markers.iterdir(), *Path("/tmp").glob(f"{cases.TAG}-zip-*")))
    leaks += sorted(str(p) for p in work.rglob(f"{cases.TAG}-zip-*") if "subs" not in p.parts)
    if "zip_otter_log" in otter and any("otter-log" in p for p in leaks):
        otter["zip_otter_log"].markers = ["the pickle ran"]
    points, _ = helpers.read_grades(graded.runs[0].out / "final_grades.csv")  # the same columns in every run
    lines = header(points, graded, len(subs), autograder)
    for n, case in enumerate(corpus, start=1):
        lines.append(row(n, case, graded, otter, otter_hits))
    lines += [
        "",
        f"The loopback server got {ours_hits} request(s) during the project's grader's runs and {otter_hits} during "
        "the `otter run`s.",
        f"Processes left running after the project's grader: {len(left_ours)}{': ' if left_ours else ''}"
        f"{'; '.join(left_ours)}.",
        f"Files that zip members or pickles left: {', '.join(leaks) or 'none'}.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def digest(path: Path) -> str:
    """The first 12 hex digits of a file's sha256: what the table records of its inputs (and a test checks)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def checks_digest(autograder_zip: Path) -> str:
    """The first 12 hex digits of a sha256 over what decides the `otter run` column: the zip's hidden
    tests and its checks (``tests/*.py``, ``files/ds201_lab1/checks.py`` and ``spec.py``)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(autograder_zip) as zf:
        names = sorted(n for n in zf.namelist() if re.fullmatch(r"tests/\w+\.py|files/ds201_lab1/(checks|spec)\.py", n))
        for name in names:
            h.update(name.encode() + b"\0" + zf.read(name) + b"\0")
    return h.hexdigest()[:12]


def header(points: dict[str, float], graded: harness.Graded, submissions: int, autograder: Path) -> list[str]:
    return [
        "# The adversarial corpus: what each attack gets",
        "",
        "Generated by `tools/adversarial_table.py` from `tests/adversarial/cases.py`; "
        "`tests/adversarial/test_adversarial.py` enforces the project's grader's column.",
        "Each attack is laid on a cheap base and compared with its *twin*, the same submission without the attack: "
        "`blank` (the student notebook cut after section 3, 0 points), `partial` (sections 0–3 answered, one wrong), "
        "`partial_zip` (the same as an otter export zip), `values` (the blank answering the literal questions), "
        "`fake_training` (the blank using its untrained model in sections 4–6). "
        f"*Stopped* means every question scored as the twin's. Scores are out of {sum(points.values()):g}.",
        "",
        f"Project's grader: `python -m ds201_lab1.grade SUBS OUT {' '.join(harness.GRADER_ARGS)}`, one run over the "
        f"batch and one per case that attacks its neighbours ({len(graded.runs)} runs, {graded.elapsed:.0f} s). "
        "`otter run`: otter-grader 7.0.0. Both with `autograder/lab1-autograder.zip` (its hidden tests and checks: "
        f"sha256 {checks_digest(autograder)}…) and `tests/adversarial/cases.py` (sha256 {digest(Path(cases.__file__))}…); "
        f"`otter run` on {submissions} submissions one by one, "
        f"each under a {OTTER_CAP_SECONDS} s cap and a {OTTER_MEMORY_BYTES // 2**30} GiB memory cap, in its own "
        "temporary, home and data folders.",
        "",
        "| # | category | case | attack | twin | project's grader | `otter run` |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]


def row(n: int, case: cases.Case, graded: harness.Graded, otter: dict[str, OtterResult], otter_hits: int) -> str:
    twin_key = f"twin:{case.twin}"
    mine, twin = graded.scores(case.id), graded.scores(case.id, twin_key)
    reference = twin  # the twin graded normally: from the batch when it is there
    batch = next((r for r in graded.runs if r.out.name == "out"), graded.runs[0])
    if twin_key in batch.files:
        reference = harness.question_scores(batch.rows[batch.files[twin_key].name], graded.questions)
    status = graded.status(case.id)
    verdict = harness.compare(mine, reference)
    if status.startswith("grader error"):
        verdict = "grader error"
    if case.neighbour and twin != reference:
        verdict += f"; but the twin, graded next to it, got {_total(twin)} ({graded.status(case.id, twin_key)[:90]})"
    ours = f"{_total(mine)} — {verdict}"
    if status != "ok":
        ours += f" · status: {status[:110]}"
    twin_cell = f"`{case.twin}` {_total(reference)}"
    if otter:
        o, t = otter[case.id], otter[twin_key]
        theirs = f"{_total(o.scores)} — {otter_verdict(o, t, otter_hits, case.id)}"
        if t.scores is not None and _total(t.scores) != _total(reference):
            twin_cell += f" (otter run: {_total(t.scores)})"
    else:
        theirs = "not run"
    return f"| {n} | {case.category} | `{case.id}` | {_cell(case.attack)} | {twin_cell} | {_cell(ours)} | {_cell(theirs)} |"


if __name__ == "__main__":
    sys.exit(main())
