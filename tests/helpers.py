"""Helpers shared by the tests and the tools: the repository's paths, otter run, reading grades.

No fixtures here (they live in ``conftest.py``): plain functions that a test, ``tools/`` or the
bench can import.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from ds201_lab1.grade import report

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "student"
AUTOGRADER = ROOT / "autograder"
ZIP = AUTOGRADER / "lab1-autograder.zip"


def otter_run(notebook: Path, out: Path, env: dict[str, str] | None = None, autograder: Path = ZIP) -> dict:
    """``otter run`` with the built zip, as the CLI does it; returns results.json."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "otter", "run", "-a", str(autograder), "-o", str(out), "--no-logo", str(notebook)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=3600,
    )
    assert proc.returncode == 0, f"otter run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads((out / "results.json").read_text())


def otter_scores(results: dict) -> dict[str, tuple[float, float]]:
    """Question -> (score, max_score) from otter's results.json (the "Public Tests" entry has no score)."""
    out: dict[str, tuple[float, float]] = {}
    for t in results["tests"]:
        if "score" not in t:
            continue
        name = t["name"].split(" - ")[0]
        s, m = out.get(name, (0.0, 0.0))
        out[name] = (s + t["score"], m + t["max_score"])
    return out


def read_grades(csv_path: Path) -> tuple[dict[str, float], dict[str, dict[str, str]]]:
    """``(points per question, file -> row)`` from a ``final_grades.csv``."""
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    points_row = next(r for r in rows if r["file"] == report.POINTS_POSSIBLE_LABEL)
    fixed = {report.FILE, report.TOTAL, report.PERCENT, report.STATUS}
    points = {q: float(v) for q, v in points_row.items() if q not in fixed}
    return points, {r["file"]: r for r in rows if r["file"] != report.POINTS_POSSIBLE_LABEL}


def grading_log(out: Path) -> list[list[dict]]:
    """``OUT/grading-log.jsonl``, one list of entries per run, oldest first."""
    runs: dict[str, list[dict]] = {}
    for line in (out / "grading-log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        runs.setdefault(entry["run"], []).append(entry)
    return list(runs.values())


def grade(subs: Path, out: Path, *args: str, timeout: float = 3600, env: dict[str, str] | None = None):
    """``python -m ds201_lab1.grade SUBS OUT ARGS…``; the completed process (not checked)."""
    cmd = [sys.executable, "-m", "ds201_lab1.grade", str(subs), str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
