"""The built autograder, used as instructors and students use it (issue 2's 'done when')."""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from helpers import STUDENT
from helpers import otter_scores as scores


def test_solution_scores_full_marks_under_otter_run(solution_run, question_points):
    results, _ = solution_run
    got = scores(results)
    assert set(question_points) <= set(got), (
        f"questions missing from otter's results: {set(question_points) - set(got)}"
    )
    missed = {q: got[q] for q in question_points if got[q][0] != got[q][1]}
    assert not missed, f"the solution loses points: {missed}\n" + "\n".join(
        t.get("output", "") for t in results["tests"] if t["score"] != t["max_score"]
    )
    assert all(got[q][1] == question_points[q] for q in question_points)


def test_blank_student_notebook_scores_zero_everywhere(blank_run, question_points):
    got = scores(blank_run)
    assert set(question_points) <= set(got)
    earned = {q: got[q] for q in question_points if got[q][0] != 0}
    assert not earned, f"the blank notebook earns points: {earned}"


def test_public_tests_pass_on_the_solution(solution_run):
    _, artifacts = solution_run
    public = json.loads((artifacts / "public.json").read_text())
    assert len(public) == len(list((STUDENT / "tests").glob("*.py")))
    failed = {q: [m for ok, m in cases if not ok] for q, cases in public.items() if not all(ok for ok, _ in cases)}
    assert not failed, failed


def _code_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_student_notebook_has_no_syntax_error_placeholder():
    for i, source in enumerate(_code_cells(STUDENT / "lab1.ipynb")):
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            ast.parse("\n".join(lines))
        except SyntaxError as e:  # pragma: no cover - the message is the point
            pytest.fail(f"code cell {i} of the student notebook does not parse: {e}\n{source}")


def test_grader_check_and_export_work_for_a_student(tmp_path):
    """A student answers two questions, runs grader.check, then the export cell (no pandoc/LaTeX)."""
    from nbclient import NotebookClient

    # The kernel sees only the virtualenv's bin/ on PATH: no pandoc, no LaTeX, whatever this machine has.
    path = str(Path(sys.executable).parent)
    assert shutil.which("pandoc", path=path) is None and shutil.which("xelatex", path=path) is None
    shutil.copytree(STUDENT, tmp_path / "student")
    work = tmp_path / "student"
    nb = nbformat.read(work / "lab1.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    init, export = code[0], next(c for c in code if "grader.export(" in c.source)
    assert "otter.Notebook" in init.source and "grader.export" in export.source
    cells = [
        init,
        nbformat.v4.new_code_cell('layer_kinds = ["input", "hidden", "output"]\ngrader.check("q0_layers")'),
        nbformat.v4.new_code_cell('layer_kinds = "input"\ngrader.check("q0_layers")'),
        nbformat.v4.new_code_cell('prob_sum = 1\ngrader.check("q3_prob_sum")'),
        export,
    ]
    run = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    client = NotebookClient(run, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute(env={**os.environ, "PATH": path})

    def text(cell) -> str:
        return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)

    assert "passed" in text(run.cells[1]).lower(), text(run.cells[1])
    failed = text(run.cells[2])
    assert "failed" in failed.lower() and "layer_kinds must be a list" in failed, failed
    assert "passed" in text(run.cells[3]).lower(), text(run.cells[3])
    zips = list(work.glob("lab1_*.zip"))
    assert len(zips) == 1, f"export made {zips}: {text(run.cells[4])}"
    with zipfile.ZipFile(zips[0]) as z:
        assert z.testzip() is None
        assert "lab1.ipynb" in z.namelist()
        nbformat.validate(nbformat.reads(z.read("lab1.ipynb").decode(), as_version=4))
