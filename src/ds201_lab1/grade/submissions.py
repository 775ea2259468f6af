"""Find the submissions under a folder, hash them and read them safely.

A submission is a notebook (``.ipynb``) or an otter export (``.zip`` holding one notebook). Reading
one never executes, extracts or unpickles anything: a zip is read in memory and only its single
notebook member is read (a member with ``..``, an absolute path or a symlink cannot be it and is
ignored; an oversized notebook is refused); ``.OTTER_LOG`` (a pickle) is never opened. A malformed submission is not an error of the batch: it
gets an :class:`.Outcome` that says what is wrong and is graded 0.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import outcome as oc
from .outcome import Outcome

SUFFIXES = (".ipynb", ".zip")
MAX_SUBMISSION_BYTES = 200 * 2**20  # a zip or notebook larger than this is refused
MAX_NOTEBOOK_BYTES = 100 * 2**20  # the notebook itself (images in outputs make it large)
SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", "__pycache__"}


@dataclass
class Submission:
    """One submission file and what reading it found."""

    path: Path
    name: str  # the CSV's ``file``: path relative to the submissions folder, POSIX style
    sha256: str = ""
    notebook: dict[str, Any] | None = None  # the parsed notebook (nbformat 4), None when rejected
    notebook_name: str = "submission.ipynb"
    rejected: Outcome | None = None  # None: gradable; otherwise why it is graded 0


def discover(root: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Every ``.ipynb``/``.zip`` under ``root`` (recursively), sorted; hidden files and ``exclude`` skipped."""
    root = root.resolve()
    skip = tuple(p.resolve() for p in exclude)
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") or part in SKIP_DIRS for part in rel.parts):
            continue
        if any(path == s or s in path.parents for s in skip):
            continue
        if path.suffix.lower() in SUFFIXES and (path.is_file() or path.is_symlink()):
            found.append(path)
    return found


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_submission(path: Path, root: Path, assignment_name: str | None) -> Submission:
    """Read ``path`` and decide whether it can be graded; never raises for a bad file."""
    sub = Submission(path=path, name=path.resolve().relative_to(root.resolve()).as_posix())
    if path.is_symlink():
        sub.rejected = Outcome(
            oc.REJECTED, "not graded: the submission is a symlink; copy the file itself into the folder"
        )
        return sub
    size = path.stat().st_size
    if size > MAX_SUBMISSION_BYTES:
        sub.rejected = Outcome(
            oc.REJECTED, f"too large: {size / 2**20:.0f} MiB (limit {MAX_SUBMISSION_BYTES // 2**20} MiB)"
        )
        return sub
    data = path.read_bytes()
    sub.sha256 = sha256_bytes(data)
    if path.suffix.lower() == ".zip":
        nb_bytes, nb_name, problem = notebook_from_zip(data)
        if problem:
            sub.rejected = Outcome(oc.REJECTED, problem)
            return sub
        sub.notebook_name = nb_name
    else:
        nb_bytes, sub.notebook_name = data, path.name
    sub.notebook, sub.rejected = parse_notebook(nb_bytes, assignment_name)
    return sub


def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be the notebook (it is then ignored: nothing is ever extracted)."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return f"member {name!r} has an absolute path"
    if ".." in parts:
        return f"member {name!r} climbs out of the archive ('..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"member {name!r} is a symlink"
    return None


def notebook_from_zip(data: bytes) -> tuple[bytes, str, str | None]:
    """The single notebook of an otter export zip: ``(bytes, file name, problem or None)``.

    Only that member is ever read, in memory. Members that could not be the notebook (``..`` or an
    absolute path, a symlink) are ignored (and named when no notebook is left); the rest
    (``.OTTER_LOG``, data files, anything that tries to shadow the instructor's files) are simply
    never opened.
    """
    ignored: list[str] = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as e:
        return b"", "", f"not a zip file: {e}"
    with zf:
        notebooks = []
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or not parts or any(p in SKIP_DIRS for p in parts) or parts[-1].startswith("."):
                continue  # includes .OTTER_LOG, which is never read
            if not parts[-1].lower().endswith(".ipynb"):
                continue
            problem = _unsafe_member(info)
            if problem:
                ignored.append(problem)
            else:
                notebooks.append(info)
        if len(notebooks) != 1:
            names = [i.filename for i in notebooks]
            what = "no notebook" if not names else f"{len(names)} notebooks {names}"
            skipped = f" (ignored: {'; '.join(ignored)[:300]})" if ignored else ""
            return b"", "", f"not a submission: the zip holds {what}{skipped}; it must hold exactly one .ipynb"
        info = notebooks[0]
        if info.file_size > MAX_NOTEBOOK_BYTES:
            size = f"{info.file_size / 2**20:.0f} MiB (limit {MAX_NOTEBOOK_BYTES // 2**20} MiB)"
            return b"", "", f"unsafe zip: the notebook {info.filename!r} is {size}; re-export it with grader.export()"
        try:
            with zf.open(info) as f:
                content = f.read(MAX_NOTEBOOK_BYTES + 1)
        except (RuntimeError, zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
            return b"", "", f"unreadable zip member {info.filename!r}: {e}"
        if len(content) > MAX_NOTEBOOK_BYTES:
            return b"", "", f"unsafe zip: member {info.filename!r} inflates beyond {MAX_NOTEBOOK_BYTES // 2**20} MiB"
        return content, PurePosixPath(info.filename).name, None


def parse_notebook(data: bytes, assignment_name: str | None) -> tuple[dict[str, Any] | None, Outcome | None]:
    """Parse and check a notebook: ``(notebook, None)`` or ``(None, why it is rejected)``."""
    nb, problem = _parse(data)
    if nb is None:
        return None, Outcome(oc.REJECTED, problem)
    got = (nb.get("metadata", {}).get("otter") or {}).get("assignment_name")
    if assignment_name and got != assignment_name:
        if got is None:
            detail = f"none (metadata.otter.assignment_name is missing; expected {assignment_name!r})"
        else:
            detail = f"{got!r} (expected {assignment_name!r})"
        return None, Outcome(oc.WRONG_ASSIGNMENT, detail)
    return nb, None


def _parse(data: bytes) -> tuple[dict[str, Any] | None, str]:
    import nbformat

    if not data.strip():
        return None, "empty file: the submission has no content"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not a notebook: not UTF-8 text (a binary file?)"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"not a notebook: invalid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return None, "not a notebook: JSON without a 'cells' list"
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises many unrelated types for a damaged notebook
        return None, f"not a notebook: {type(e).__name__}: {str(e)[:200]}"
    if not any(c.get("cell_type") == "code" and str(c.get("source", "")).strip() for c in nb.cells):
        return None, "empty notebook: no code cell has any code"
    return nb, ""
