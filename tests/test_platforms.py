"""Cheap checks behind `make platforms` (issue 11): the zip's grading environment and the README's commands.

No Docker here: `make platforms` runs the zip on otter grade and an emulated Gradescope. These
check what can be checked in seconds: the README's `otter grade` commands parse with otter's own
click command, the zip pins Python and the project's versions, its scripts are executable, its
setup.sh reaches only package registries and dataset hosts, the executed solution passes otter's
assignment check, and a grading run without the datasets says so in results.json and results.pkl.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from ds201_lab1 import build

sys.path.insert(0, str(ROOT / "platforms"))
import platforms  # noqa: E402


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory) -> Path:
    """A fresh build's autograder zip (test_build proves the committed one equals it)."""
    out = tmp_path_factory.mktemp("fresh")
    build.generate(out)
    return out / "autograder" / build.ZIP_NAME


def test_the_readmes_otter_grade_commands_parse(tmp_path, monkeypatch):
    """The commands `make platforms` runs (platforms.readme_otter_grade_commands), parsed by otter's click command."""
    from otter.cli import grade_cli

    commands = platforms.readme_otter_grade_commands()
    assert len(commands) == 2, "the README shows one otter grade command per extension"
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        assert argv[:2] == [".venv/bin/otter", "grade"]
        args = argv[2:]
        (tmp_path / args[-1]).mkdir(parents=True, exist_ok=True)  # the submissions folder, for click's exists=True
        p = grade_cli.make_context("grade", list(args)).params  # click consumes its list
        assert p["name"] == build.NAME, f"{argv}: -n {build.NAME} is required (otter 7)"
        assert Path(p["autograder"]).name == "lab1-autograder-data.zip"
        assert p["paths"] == (args[-1],) and p["ext"] in {"ipynb", "zip"}
        assert p["no_network"], f"{argv}: grading needs no network (--no-network)"
        assert p["image"] == platforms.BASE_IMAGE and p["containers"] >= 1
    assert {grade_cli.make_context("grade", list(a[2:])).params["ext"] for a in commands} == {"ipynb", "zip"}


def test_the_readme_states_the_gradescope_memory_make_platforms_enforces():
    readme = (ROOT / "README.md").read_text()
    assert f"*Memory*: {platforms.GRADESCOPE_MEMORY_GIB} GB" in readme


def test_a_wrong_otter_grade_command_fails_to_parse():
    """The check above can fail: the old README's `-p` is no option of otter 7."""
    import click
    from otter.cli import grade_cli

    with pytest.raises(click.UsageError):
        grade_cli.make_context("grade", ["-a", "x.zip", "-p", "submissions/"])


def test_the_zip_pins_python_and_the_projects_versions(zip_path):
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = dict(re.fullmatch(r"([\w.-]+)==([\w.]+)", d).groups() for d in deps if "==" in d)
    with zipfile.ZipFile(zip_path) as z:
        reqs = z.read("requirements.txt").decode().split()
        env = z.read("environment.yml").decode()
        setup = z.read("setup.sh").decode()
    wanted = {f"{p}{build.GRADING_EXTRAS.get(p, '')}=={pinned[p]}" for p in build.GRADING_PACKAGES}
    assert set(reqs) == wanted
    assert "- python=3.11" in env and all(r in env for r in wanted)
    assert re.search(r"^PYTHON=python3\.11$", setup, re.M)
    config = build.assignment_config(nbformat.read(build.MASTER, as_version=4))
    assert str(config["python_version"]) == "3.11" and "python_version" not in config.get("generate", {})


def test_an_unpinned_package_stops_the_build(tmp_path):
    text = (ROOT / "pyproject.toml").read_text().replace('"numpy==', '"numpy>=')
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(build.BuildError, match="must pin numpy"):
        build.pins(tmp_path / "pyproject.toml")


def test_the_zips_scripts_are_executable(zip_path):
    with zipfile.ZipFile(zip_path) as z:
        modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in z.infolist()}
    assert modes["setup.sh"] == 0o755 and modes["run_autograder"] == 0o755
    assert modes["run_otter.py"] == 0o644


ALLOWED_HOSTS = {
    "pypi.org", "files.pythonhosted.org",  # pip
    "deb.debian.org", "archive.ubuntu.com", "security.ubuntu.com",  # apt
    "storage.googleapis.com", "www.cs.toronto.edu",  # Keras' MNIST and CIFAR-10
}  # fmt: skip


def test_setup_sh_fetches_only_from_package_registries_and_dataset_hosts(zip_path):
    with zipfile.ZipFile(zip_path) as z:
        setup = z.read("setup.sh").decode()
    code = "\n".join(ln.split("#")[0] for ln in setup.splitlines())  # comments name what is NOT done
    hosts = set(re.findall(r"[a-z]+://([^/\s\"']+)", code))
    assert hosts <= ALLOWED_HOSTS, hosts - ALLOWED_HOSTS
    for tool in ("wget", "curl", "git ", "conda", "mamba", "miniforge", "playwright", "texlive", "pandoc", "github"):
        assert tool not in code.lower(), f"setup.sh uses {tool}"
    assert "apt-get install" in code and "pip install" in code


def test_the_executed_solution_is_a_valid_submission():
    """What `otter run` checks before executing: the notebook's assignment name (otter's own code)."""
    from otter.run.run_autograder.runners import create_runner
    from otter.run.run_autograder.utils import OtterRuntimeError

    config = json.loads((ROOT / "autograder" / "otter_config.json").read_text())
    runner = create_runner(config, autograder_dir=str(ROOT))
    nb = nbformat.read(ROOT / "solutions" / "lab1.ipynb", as_version=4)
    runner.validate_assignment_name(runner.get_notebook_assignment_name(nb))
    nb.metadata.pop("otter", None)  # the check can fail: as solutions/ was before issue 11
    with pytest.raises(OtterRuntimeError, match="Received submission for assignment 'None'"):
        runner.validate_assignment_name(runner.get_notebook_assignment_name(nb))


def test_missing_datasets_say_so_in_results_json_and_otter_grades_csv(zip_path, tmp_path):
    """run_otter.py's pre-flight: no dataset in the image -> score 0 and one message, nothing graded."""
    ag = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(ag / "source")
    (ag / "results").mkdir()
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "DS201_AUTOGRADER_DIR": str(ag), "DS201_DATA_DIR": str(tmp_path / "empty"), "DS201_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(ag / "source" / "run_otter.py")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr  # otter grade reads results.pkl only after exit 0
    assert "datasets missing: mnist.npz, cifar10.npz" in proc.stderr
    results = json.loads((ag / "results" / "results.json").read_text())
    assert platforms.gradescope_problems(results) == []
    assert results["score"] == 0 and results["output"].startswith("datasets missing:")
    assert "DS201_DATA_DIR" in results["output"] and "Thiếu dữ liệu" in results["output"]

    import dill
    from otter.grade.utils import merge_scores_to_df

    with open(ag / "results" / "results.pkl", "rb") as f:
        graded = dill.load(f)
    graded.file = "x.ipynb"
    row = merge_scores_to_df([graded]).iloc[-1]
    assert row["total_points_earned"] == 0 and row["grading_status"].startswith("datasets missing:")


def test_gradescope_format_check_can_fail():
    bad = {"tests": [{"name": "q", "score": "1", "visibility": "sometimes"}]}
    problems = platforms.gradescope_problems(bad)
    assert any("score is not a number" in p for p in problems) and any("visibility" in p for p in problems)
    assert platforms.gradescope_problems({"score": 1, "tests": [{"name": "q", "max_score": 1}]}) == []


def _run_otter_module(ag: Path, monkeypatch):
    """The zip's run_otter.py, imported as Gradescope's harness would run it, on ``ag``."""
    import importlib.util

    monkeypatch.setenv("DS201_AUTOGRADER_DIR", str(ag))
    spec = importlib.util.spec_from_file_location("zip_run_otter", ag / "source" / "run_otter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("configured", [True, False])
def test_the_zip_makes_the_manual_pdf_only_when_otter_will_upload_it(zip_path, tmp_path, monkeypatch, configured):
    """Issue 12 on Gradescope: the zip carries the PDF builder, and run_otter.py writes the 8 manual
    answers' PDF into /autograder/submission when otter_config.json asks for the submission's PDF."""
    ag = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(ag / "source")
    config = json.loads((ag / "source" / "otter_config.json").read_text())
    if configured:
        config |= {"token": "t", "course_id": 1, "assignment_id": 2, "use_submission_pdf": True}
    (ag / "source" / "otter_config.json").write_text(json.dumps(config))
    (ag / "submission").mkdir()
    shutil.copy(ROOT / "solutions" / "lab1.ipynb", ag / "submission")
    (ag / "submission" / "mine.pdf").write_bytes(b"%PDF-1.4 a PDF the student uploaded")
    run_otter = _run_otter_module(ag, monkeypatch)
    made = run_otter.manual_pdf()
    pdfs = sorted(p.name for p in (ag / "submission").glob("*.pdf"))
    if not configured:
        assert made is None and pdfs == ["mine.pdf"]
        return
    assert made == 0 and pdfs == ["lab1.pdf"]  # otter's use_submission_pdf uploads this one
    from pypdf import PdfReader

    pages = PdfReader(ag / "submission" / "lab1.pdf").pages
    assert len(pages) == 8
    assert sum(len(p.images) for p in pages) >= 2  # q2_samples' digits and q2_label_plots' chart
