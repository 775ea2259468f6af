"""Fair to every correct answer (issue 13): each case of the fairness corpus (``tests/fairness.py``)
passes every test case, public and hidden, of its question's built test file, as ``otter run``
runs them, on the models of the session's one full solution run. Nothing is trained here."""

from __future__ import annotations

import pytest
from conftest import AUTOGRADER
from fairness import CASES


@pytest.fixture(scope="module")
def honest(solution_answers) -> dict:
    """The solution's answers a case does not replace (conftest: loaded once per test run)."""
    return dict(solution_answers)


def test_the_corpus_is_big_and_covers_issue_13s_list():
    assert len(CASES) >= 40
    whats = " ".join(c.what for c in CASES)
    for needed in (
        "plural",
        "database",
        "functional",
        "value_counts",
        "float32",
        "numpy",
        "a tuple",
        "a set",
        "sorted list",
        "np.eye",
        "Activation layers",
        "model.add",
    ):
        assert needed in whats, needed


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.question}: {c.what}")
def test_an_alternative_correct_answer_gets_full_points(case, honest, tmp_path, monkeypatch):
    from otter.test_files import ExceptionTestFile

    monkeypatch.chdir(tmp_path)  # q6_save writes its file here
    env = dict(honest)
    exec(case.cell(), env)
    test_file = ExceptionTestFile.from_file(str(AUTOGRADER / "tests" / f"{case.question}.py"))
    test_file.run(env)
    failed = [r.message for r in test_file.test_case_results if not r.passed]
    assert not failed, "\n".join(failed)
    assert test_file.score == test_file.possible > 0


@pytest.fixture(scope="module")
def grader_plan() -> dict:
    from ds201_lab1.grade import verify

    return verify.plan(AUTOGRADER)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.question}: {c.what}")
def test_an_alternative_correct_answer_gets_full_points_from_the_projects_grader(
    case, honest, grader_plan, tmp_path, monkeypatch
):
    """The same case through ``make grade``'s own path: its values saved as data in the kernel
    (:mod:`snapshot`, at the question's check), rebuilt in the trusted process and checked there
    (:func:`verify.run_tests`). What the sandbox adds, it adds to every answer alike."""
    from ds201_lab1.grade import snapshot, verify

    monkeypatch.chdir(tmp_path)
    env = dict(honest)
    exec(case.cell(), env)
    q = grader_plan["questions"][case.question]
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (tmp_path / "spec.json").write_text(__import__("json").dumps(grader_plan["snapshot"]))
    snapshot.save(
        case.question,
        {n: env[n] for n in q["names"] if n in env},
        spec_path=str(tmp_path / "spec.json"),
        out_dir=str(artifacts),
    )
    one = {**grader_plan, "questions": {case.question: q}}
    results = verify.run_tests(one, AUTOGRADER, artifacts, tmp_path / "work")[case.question]
    failed = [c["message"] for c in results["cases"] if not c["passed"]]
    assert not failed, "\n".join(failed)
    assert results["score"] == results["possible"] > 0


def test_each_case_can_go_into_a_notebook_for_the_graders():
    """For `make grade`/`otter run`: the case's cell lands right before its question's grader.check."""
    import nbformat
    from fairness import notebook_with

    nb = nbformat.read(AUTOGRADER / "lab1.ipynb", as_version=4)
    for case in CASES:
        out = notebook_with(nb, case)
        index = next(i for i, c in enumerate(out.cells) if c.source == case.cell())
        assert out.cells[index + 1].source == f'grader.check("{case.question}")', case
        compile(case.cell(), case.what, "exec")
