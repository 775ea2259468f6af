"""The trusted stage, parent side: one long-lived ``verify`` process per job.

A run starts them all before any notebook executes; each imports TensorFlow and loads the checks'
copy of the data while the first notebooks run. Each submission is then one request line to an idle
process and one answer line back, with the results — no TensorFlow import per submission. A process
that passes the time or memory limit, or dies, is killed with its whole tree and a fresh one takes
its place for the next submission.
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

from . import processes


class Verifier:
    """One ``python -m ds201_lab1.grade.verify`` process and its request/answer lines."""

    def __init__(
        self, autograder: Path, plan: Path, env: dict[str, str], work: Path, memory_bytes: int, outputs: Path | None
    ):
        self.autograder, self.plan, self.env, self.memory_bytes = autograder, plan, env, memory_bytes
        self.outputs = outputs
        self.log, self.workdir = work.with_suffix(".log"), work
        self.proc: subprocess.Popen | None = None
        self.ready = False
        self._buffer = b""

    def start(self) -> None:
        cmd = [sys.executable, "-m", "ds201_lab1.grade.verify", "--autograder", str(self.autograder)]
        cmd += ["--plan", str(self.plan), "--workdir", str(self.workdir)]
        if self.outputs is not None:
            cmd += ["--outputs", str(self.outputs)]
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
        processes.track(self.proc)
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
            elif self.memory_bytes and processes.tree_rss(proc.pid) > self.memory_bytes:
                why = "the memory limit"
            if why:
                break
            readable, _, _ = select.select([fd], [], [], 0.2)
            if readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    proc.wait()
                    why = f"an exit with code {proc.returncode}: {processes.log_tail(self.log)}"
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

    def verify(self, artifacts: Path, timeout: float) -> tuple[dict | None, str]:
        """Grade one execution's artifacts: ``(results per question, "")`` or ``(None, problem)``."""
        deadline = time.monotonic() + timeout
        if self.proc is not None and self.proc.poll() is not None:
            self.stop()  # it died since its last answer: start a fresh one
        if self.proc is None:
            self.start()
        if not self.ready:
            answer, why = self._answer(deadline)
            self.ready = bool(answer and answer.get("ready"))
            if not self.ready:
                return None, f"the verifier stopped ({why or f'unexpected first line {answer!r}'})"
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps({"artifacts": str(artifacts)}) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            self.stop()
            return None, f"the verifier is gone ({e})"
        answer, why = self._answer(deadline)
        if answer is None:
            return None, f"verifying hit {why}"
        if not isinstance(answer.get("questions"), dict):
            return None, f"verify failed: {answer.get('error', 'no results')}"
        return answer["questions"], ""

    def stop(self) -> None:
        if self.proc is not None:
            processes.kill_tree(self.proc)
            processes.untrack(self.proc)
            self.proc = None
            self.ready = False

    def close(self) -> None:
        """End the process. Every answer is in already; TensorFlow's orderly exit takes seconds."""
        if self.proc is not None and self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.stop()


class VerifyPool:
    """``size`` verifiers; :meth:`worker` lends an idle one (the caller's thread waits for one).
    ``outputs``: where they keep the models' test-set outputs across runs (``verify --outputs``)."""

    def __init__(
        self,
        size: int,
        autograder: Path,
        plan: Path,
        env: dict[str, str],
        memory_bytes: int,
        outputs: Path | None = None,
    ):
        work = plan.parent
        self.all = [
            Verifier(autograder, plan, env, work / f"verify-{i}", memory_bytes, outputs) for i in range(size)
        ]
        self.idle: queue.Queue[Verifier] = queue.Queue()
        for v in self.all:
            self.idle.put(v)

    def launch(self) -> None:
        """Start every verifier now: they warm up while the caller does other work."""
        for v in self.all:
            v.start()

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
