"""The trusted stage, parent side: one long-lived ``verify serve`` process per job.

A run starts them all before any notebook executes. The first one writes the plan (which values
each question needs), while the others import TensorFlow and load the checks' copy of the data;
the first one does the same next, while the first notebooks run. Each submission is then one
request to an idle process, answered in about a second — no TensorFlow import per submission. A
process that passes the time or memory limit, or dies, is killed with its whole tree and a fresh
one takes its place for the next submission.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import execute


class Verifier:
    """One ``python -m ds201_lab1.grade.verify serve`` process and its request/answer lines."""

    def __init__(self, autograder: Path, plan: Path, env: dict[str, str], log: Path, memory_bytes: int):
        self.autograder, self.plan, self.env, self.log, self.memory_bytes = autograder, plan, env, log, memory_bytes
        self.proc: subprocess.Popen | None = None
        self.ready = False
        self._buffer = b""

    def start(self, make_plan: bool = False) -> None:
        cmd = [sys.executable, "-m", "ds201_lab1.grade.verify", "serve", "--autograder", str(self.autograder)]
        cmd += ["--plan", str(self.plan), *(["--make-plan"] if make_plan else [])]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                env=self.env,
                cwd="/",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        execute.track(self.proc)
        self.ready, self._buffer = False, b""

    def _answer(self, deadline: float) -> tuple[dict | None, str]:
        """The next answer line, or ``(None, why not)`` after killing the process."""
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        why = ""
        while b"\n" not in self._buffer:
            if time.monotonic() > deadline:
                why = "the time limit"
            elif self.memory_bytes and execute.tree_rss(proc.pid) > self.memory_bytes:
                why = "the memory limit"
            if why:
                break
            readable, _, _ = select.select([fd], [], [], 0.2)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    proc.wait()
                    why = f"an exit with code {proc.returncode}: {execute._log_tail(self.log)}"
                    break
                self._buffer += chunk
        if why:
            self.stop()
            return None, why
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            answer = json.loads(line)
        except ValueError:
            self.stop()
            return None, f"an unreadable answer {line[:100]!r}"
        return (answer, "") if isinstance(answer, dict) else (None, "an unreadable answer")

    def wait_ready(self, timeout: float) -> str:
        """``""`` once the process has its plan, else why it has none."""
        if self.proc is None:
            self.start()
        if not self.ready:
            answer, why = self._answer(time.monotonic() + timeout)
            self.ready = bool(answer and answer.get("ready"))
            if not self.ready:
                return why or f"unexpected first line {answer!r}"
        return ""

    def verify(self, artifacts: Path, workdir: Path, out: Path, timeout: float) -> tuple[dict | None, str]:
        """Grade one execution's artifacts: ``(results, "")`` or ``(None, problem)``."""
        deadline = time.monotonic() + timeout
        if self.proc is not None and self.proc.poll() is not None:
            self.stop()  # it died since its last answer: start a fresh one
        why = self.wait_ready(timeout)
        if why:
            return None, f"grader error: the verifier stopped ({why})"[:300]
        assert self.proc is not None and self.proc.stdin is not None
        request = {"artifacts": str(artifacts), "workdir": str(workdir), "out": str(out)}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            self.stop()
            return None, f"grader error: the verifier is gone ({e})"
        answer, why = self._answer(deadline)
        if answer is None:
            return None, f"grader error: verifying hit {why}"[:300]
        if "error" in answer or not out.is_file():
            return None, f"grader error: verify failed: {answer.get('error', 'no results written')}"[:300]
        return json.loads(out.read_text()), ""

    def stop(self) -> None:
        if self.proc is not None:
            execute.kill_tree(self.proc)
            execute.untrack(self.proc)
            self.proc = None
            self.ready = False

    def close(self) -> None:
        """End the process. Every answer is on disk already; TensorFlow's orderly exit takes seconds."""
        if self.proc is not None and self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.stop()


class VerifyPool:
    """``size`` verifiers; :meth:`worker` lends an idle one (the caller's thread waits for one)."""

    def __init__(self, size: int, autograder: Path, work: Path, env: dict[str, str], memory_bytes: int):
        self.plan_path = work / "plan.json"
        self.all = [
            Verifier(autograder, self.plan_path, env, work / f"verify-{i}.log", memory_bytes) for i in range(size)
        ]
        self.idle: queue.Queue[Verifier] = queue.Queue()

    def launch(self) -> None:
        """Start every verifier; the first writes the plan (the caller may do other work meanwhile)."""
        self.plan_path.unlink(missing_ok=True)
        for i, v in enumerate(self.all):
            v.start(make_plan=i == 0)

    def start(self, timeout: float = 600) -> dict:
        """Wait for the plan (launching first if needed); return it. The verifiers become idle workers."""
        first = self.all[0]
        if first.proc is None:
            self.launch()
        why = first.wait_ready(timeout)
        if why:
            self.close()
            raise SystemExit(f"reading the autograder's tests failed ({why}); see {first.log}")
        for v in self.all:
            self.idle.put(v)
        return json.loads(self.plan_path.read_text())

    @contextmanager
    def worker(self) -> Iterator[Verifier]:
        v = self.idle.get()
        try:
            yield v
        finally:
            self.idle.put(v)

    def close(self) -> None:
        for v in self.all:
            v.close()
