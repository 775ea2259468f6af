"""`make assignment`: the committed generated files match a fresh build, and nothing leaks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import AUTOGRADER, ROOT, STUDENT

from ds201_lab1 import build


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fresh")
    build.generate(out)
    return out


def _notebook_content(path: Path) -> list[tuple[str, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source) for c in nb.cells] + [("metadata", json.dumps(nb.metadata, sort_keys=True))]


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.mark.parametrize("part", ["student", "autograder"])
def test_committed_build_matches_a_fresh_one(fresh, part):
    committed, new = ROOT / part, fresh / part
    assert _files(committed) == _files(new), f"{part}/ differs in its files: rebuild with `make assignment`"
    for rel in _files(new):
        a, b = committed / rel, new / rel
        if rel.endswith(".ipynb"):
            assert _notebook_content(a) == _notebook_content(b), f"{part}/{rel} is stale: run `make assignment`"
        else:
            assert a.read_bytes() == b.read_bytes(), f"{part}/{rel} is stale: run `make assignment`"


def test_solutions_match_the_autograder_notebook_sources():
    """The executed solution is the current solution (outputs differ run to run, sources must not)."""
    sol = nbformat.read(ROOT / "solutions" / "lab1.ipynb", as_version=4)
    ag = nbformat.read(AUTOGRADER / "lab1.ipynb", as_version=4)
    assert [c.source for c in sol.cells] == [c.source for c in ag.cells], "solutions/ is stale: run `make assignment`"
    errors = [o for c in sol.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"the executed solution has errors: {errors[:1]}"
    assert (ROOT / "solutions" / "lab1.html").stat().st_size > 10_000


def test_autograder_zip_is_reproducible_and_complete(fresh):
    assert (AUTOGRADER / build.ZIP_NAME).read_bytes() == (fresh / "autograder" / build.ZIP_NAME).read_bytes()
    with zipfile.ZipFile(AUTOGRADER / build.ZIP_NAME) as z:
        names = set(z.namelist())
    assert {"run_autograder", "setup.sh", "otter_config.json", "environment.yml"} <= names
    assert {f"files/ds201_lab1/{m}" for m in build.GRADING_MODULES} <= names
    assert {f"tests/{p.name}" for p in (AUTOGRADER / "tests").glob("*.py")} <= names


LEAKS = [
    r"BEGIN SOLUTION",
    r"# SOLUTION",
    r"BEGIN TESTS",
    r"hidden\s*[:=]\s*(true|True)",
    r"623290",
    r"615440",
    r"ds201_lab1\.checks",
    r"checks\.",
    r"Modified National",  # the q1 key
    r"784 \* 784",  # the q3_params solution
    r"np\.bincount\(y_train",  # the q2_label_counts solution
]


def test_nothing_hidden_or_solved_reaches_students():
    for path in sorted(p for p in STUDENT.rglob("*") if p.is_file()):
        text = path.read_text()
        for pattern in LEAKS:
            assert not re.search(pattern, text), f"{path.relative_to(ROOT)} holds {pattern!r}"
    master = (ROOT / "assignment" / "lab1.ipynb").read_text()
    assert all(re.search(p, master) for p in LEAKS[-3:]), "the solution markers this test looks for have moved"


def test_every_question_has_public_and_hidden_tests():
    for path in sorted((AUTOGRADER / "tests").glob("*.py")):
        text = path.read_text()
        assert "hidden=False" in text, f"{path.name}: no public test"
        assert "hidden=True" in text, f"{path.name}: no hidden test"
        public = (STUDENT / "tests" / path.name).read_text()
        assert "hidden=True" not in public


def test_generated_notebooks_carry_no_stray_metadata():
    for path in [
        ROOT / "assignment" / "lab1.ipynb",
        STUDENT / "lab1.ipynb",
        AUTOGRADER / "lab1.ipynb",
        ROOT / "solutions" / "lab1.ipynb",
    ]:
        nb = nbformat.read(path, as_version=4)
        ours = {"ds201"} if path.parent.name == "solutions" else set()  # what the solution was built from
        assert set(nb.metadata) <= {"kernelspec", "language_info", "otter", *ours}, (path, set(nb.metadata))
        assert "widgets" not in json.dumps(nb.metadata)
    master = nbformat.read(ROOT / "assignment" / "lab1.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in master.cells if c.cell_type == "code"), "master outputs must be stripped"


def test_the_build_runs_in_the_checkout(tmp_path):
    """The installed package computes no repository path: run elsewhere, the build says where to run and writes nothing."""
    cmd = [sys.executable, "-m", "ds201_lab1.build", "--no-execute"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "not found in" in proc.stderr and "make assignment" in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_solution_run_that_grades_nothing_fails_the_build(tmp_path, monkeypatch):
    (tmp_path / "autograder").mkdir()
    shutil.copy(AUTOGRADER / "lab1.ipynb", tmp_path / "autograder" / "lab1.ipynb")
    monkeypatch.setattr(build, "run_notebook", lambda nb, tests, probe: {})  # no test file found in the kernel
    with pytest.raises(build.BuildError, match="ran no test file"):
        build.execute_solution(tmp_path)


def test_a_broken_master_gets_a_clear_message(tmp_path):
    bad = tmp_path / "lab1.ipynb"
    bad.write_text("{ not json")
    with pytest.raises(build.BuildError, match="not a readable notebook.*git checkout"):
        build.check_master(bad)
    with pytest.raises(build.BuildError, match="not found"):
        build.check_master(tmp_path / "missing.ipynb")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("hi")])
    nbformat.write(nb, bad)
    with pytest.raises(build.BuildError, match="ASSIGNMENT CONFIG"):
        build.check_master(bad)


def test_the_executed_solution_was_made_from_the_current_autograder():
    built = build._built_from(ROOT / "solutions" / "lab1.ipynb")
    assert built == build.solution_inputs(ROOT), "solutions/ is stale: run `make assignment`"


def test_a_rebuild_that_changes_nothing_rewrites_no_solution_file(tmp_path, monkeypatch):
    """The solution is executed every build (it must score full marks), but solutions/ is rewritten
    only when the autograder it is made from changed: its outputs (timings, logs) differ run to run."""
    shutil.copytree(AUTOGRADER, tmp_path / "autograder")
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    ran, scores = [], {"q0_layers": {"score": 1, "possible": 1, "failed": []}}
    monkeypatch.setattr(build, "run_notebook", lambda nb, tests, probe: ran.append(1) or scores)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "solutions").iterdir()}
    assert build.execute_solution(tmp_path) == (scores, False)
    assert ran and before == {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "solutions").iterdir()
    }
    with (tmp_path / "autograder" / build.ZIP_NAME).open("ab") as f:
        f.write(b"\0")  # the autograder changed: the solution is written anew, and records it
    assert build.execute_solution(tmp_path) == (scores, True)
    assert build._built_from(tmp_path / "solutions" / "lab1.ipynb") == build.solution_inputs(tmp_path)
    assert (tmp_path / "solutions" / "lab1.ipynb").read_bytes() != before["lab1.ipynb"][0]
