"""What grading the adversarial corpus needs besides the corpus: shared by the test and the table tool.

- ``AnswerServer``: the loopback HTTP server of category 10, which serves "the answers" and
  records every request it gets;
- ``grade_corpus``: the corpus through the project's grader — one run for the batch, one more per
  ``neighbour`` case — and the scores of every submission;
- ``attack_processes`` / ``kill``: processes left by an attack (found by the attack tag in their
  command line, or by the run's folder in their command line, environment or working folder),
  ended by their id;
- ``compare``: a case's scores against its twin's, as a short verdict.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cases
import helpers
import psutil

GRADER_ARGS = ("-j", "2", "--timeout", "240", "--cell-timeout", "30", "--memory", "3")


class AnswerServer:
    """``with AnswerServer(body) as s``: serves ``body`` on 127.0.0.1 at ``s.url``; ``s.requests``."""

    def __init__(self, body: bytes):
        self.body = body
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.requests.append(f"{self.client_address[0]} {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/answers"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> AnswerServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Run:
    """One run of the project's grader: its submissions (id -> file) and its CSV."""

    subs: Path
    out: Path
    files: dict[str, Path]
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  # file name -> CSV row
    stderr: str = ""
    returncode: int | None = None


@dataclass
class Graded:
    """The corpus graded by the project's grader."""

    runs: list[Run]
    points: dict[str, float]  # question -> points possible
    elapsed: float

    @property
    def questions(self) -> list[str]:
        return list(self.points)

    def run_of(self, case_id: str) -> Run:
        return next(r for r in self.runs if case_id in r.files)

    def row(self, case_id: str, key: str | None = None) -> dict[str, str]:
        """The CSV row of a case (``key`` None) or of a submission of the case's run (``"twin:…"``)."""
        run = self.run_of(case_id)
        return run.rows[run.files[key or case_id].name]

    def scores(self, case_id: str, key: str | None = None) -> dict[str, float]:
        return question_scores(self.row(case_id, key), self.questions)

    def status(self, case_id: str, key: str | None = None) -> str:
        return self.row(case_id, key)["grading_status"]


def grade_corpus(
    work: Path, arena: cases.Arena, corpus: tuple[cases.Case, ...], env: dict[str, str], autograder: Path
) -> Graded:
    """Build and grade ``corpus`` under ``work``: the batch in one run, each neighbour case in its own.

    Every run uses ``autograder`` (a copy taken once: the built zip may be rebuilt meanwhile).
    """
    batch = tuple(c for c in corpus if not c.neighbour)
    runs = [Run(work / "subs", work / "out", cases.write_corpus(work / "subs", arena, batch))] if batch else []
    for c in corpus:
        if c.neighbour:
            subs = work / f"subs-{c.id}"
            runs.append(Run(subs, work / f"out-{c.id}", cases.write_neighbour_run(subs, arena, c)))
    start = time.monotonic()
    points: dict[str, float] = {}
    for run in runs:
        proc = helpers.grade(run.subs, run.out, *GRADER_ARGS, "--autograder", str(autograder), env=env, timeout=1800)
        run.stderr, run.returncode = proc.stderr, proc.returncode
        if (run.out / "final_grades.csv").is_file():
            points, run.rows = helpers.read_grades(run.out / "final_grades.csv")
    return Graded(runs, points, time.monotonic() - start)


def question_scores(row: dict[str, str], questions) -> dict[str, float]:
    return {q: float(row[q]) for q in questions}


def _num(x: float) -> str:
    return f"{x:g}"


def compare(case: dict[str, float], twin: dict[str, float]) -> str:
    """'stopped' when every question scores as the twin's; otherwise what moved."""
    if case == twin:
        return "stopped"
    total, base = sum(case.values()), sum(twin.values())
    if total > base:
        return f"score inflated to {_num(total)} (twin {_num(base)})"
    if total < base:
        return f"score lowered to {_num(total)} (twin {_num(base)})"
    moved = sorted(q for q in case if case[q] != twin.get(q))
    return f"same total, other questions: {', '.join(moved)}"


def _mentions(proc: psutil.Process, needles: tuple[str, ...]) -> bool:
    try:
        texts = [" ".join(proc.cmdline())]
        try:
            texts.append(proc.cwd())
            texts.extend(f"{k}={v}" for k, v in proc.environ().items())
        except (psutil.AccessDenied, psutil.ZombieProcess):
            pass
    except psutil.Error:
        return False
    return any(n in t for t in texts for n in needles)


def attack_processes(*folders: Path, exclude: set[int] | None = None) -> list[psutil.Process]:
    """Live processes that carry the attack tag, or name one of ``folders`` (cmdline, env, cwd)."""
    needles = (cases.TAG, *(str(f) for f in folders))
    skip = {psutil.Process().pid, *(exclude or set())}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in skip:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if _mentions(proc, needles):
            found.append(proc)
    return found


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} ({p.username()}): {' '.join(p.cmdline())[:150]}")
        except psutil.Error:
            out.append(f"{p.pid} (gone)")
    return out


def kill(procs: list[psutil.Process]) -> None:
    """SIGKILL these processes, by id."""
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)
