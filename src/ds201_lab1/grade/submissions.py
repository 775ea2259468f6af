"""Find the submissions under a folder, hash them and read them safely.

A submission is a notebook (``.ipynb``) or an otter export (``.zip`` holding one notebook). Reading
one never executes, extracts or unpickles anything: a zip is read in memory and only its single
notebook member is read (a member with ``..``, an absolute path or a symlink cannot be it and is
ignored; an oversized notebook is refused); ``.OTTER_LOG`` (a pickle) is never opened.

Reading is contained and lenient. Whatever a file holds or is named, :func:`read_submission`
returns a :class:`Submission` (a failure of any kind becomes that file's ``rejected`` outcome, and
the batch goes on): a name that is not valid UTF-8 or holds control characters is shown escaped,
with a short hash of its bytes, so that every file keeps its own row. What can be read is graded,
and ``repairs`` says what was repaired: a UTF-16/UTF-32 notebook is decoded by its BOM, bytes that
are not UTF-8 (a legacy 8-bit encoding) and lone surrogates become U+FFFD (the cells are named), an
nbformat 3 notebook is upgraded to 4. A malformed submission is not an error of the batch: it gets
an :class:`.Outcome` that says what is wrong and is graded 0.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
import stat
import unicodedata
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
MAX_DEPTH = 64  # JSON nesting: a real notebook has under 15 levels; deeper ones stop recursive code
BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", None),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
_LONE = re.compile("[\ud800-\udfff]")


@dataclass
class Submission:
    """One submission file and what reading it found."""

    path: Path
    name: str  # the CSV's ``file``: path relative to the submissions folder, POSIX style
    sha256: str = ""
    notebook: dict[str, Any] | None = None  # the parsed notebook (nbformat 4), None when rejected
    notebook_name: str = "submission.ipynb"
    rejected: Outcome | None = None  # None: gradable; otherwise why it is graded 0
    repairs: str = ""  # what reading repaired ("decoded as UTF-16 (BOM)", …), shown in the status


def display_name(rel: str) -> str:
    """``rel`` as shown in the CSV, the log and the feedback: itself when it is clean text; else its
    bytes that are not UTF-8 as ``\\xNN``, control characters as ``\\n``/``\\uNNNN``, and a short hash
    of the raw name (two names that escape alike still get two rows)."""
    raw = os.fsencode(rel)
    text = raw.decode("utf-8", "backslashreplace")
    clean = "".join(c if unicodedata.category(c)[0] != "C" else c.encode("unicode_escape").decode() for c in text)
    if clean == rel:
        return rel
    stem, dot, ext = clean.rpartition(".")
    tag = f"[{hashlib.sha256(raw).hexdigest()[:8]}]"
    return f"{stem} {tag}.{ext}" if dot and "/" not in ext else f"{clean} {tag}"


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


def _relative(path: Path, root: Path) -> str:
    try:
        return path.absolute().relative_to(root.absolute()).as_posix()
    except ValueError:
        return path.name


def read_submission(path: Path, root: Path, assignment_name: str | None) -> Submission:
    """Read ``path`` and decide whether it can be graded; never raises, whatever the file holds."""
    sub = Submission(path=path, name=display_name(_relative(path, root)))
    try:
        _read(sub, path, assignment_name)
    except Exception as e:  # anything a file can provoke is that file's status
        sub.notebook = None
        sub.rejected = Outcome(oc.REJECTED, f"unreadable submission: {type(e).__name__}: {str(e)[:200]}")
    return sub


def _read(sub: Submission, path: Path, assignment_name: str | None) -> None:
    if path.is_symlink():
        sub.rejected = Outcome(
            oc.REJECTED, "not graded: the submission is a symlink; copy the file itself into the folder"
        )
        return
    size = path.stat().st_size
    if size > MAX_SUBMISSION_BYTES:
        sub.rejected = Outcome(
            oc.REJECTED, f"too large: {size / 2**20:.0f} MiB (limit {MAX_SUBMISSION_BYTES // 2**20} MiB)"
        )
        return
    data = path.read_bytes()
    sub.sha256 = sha256_bytes(data)
    if path.suffix.lower() == ".zip":
        nb_bytes, nb_name, problem = notebook_from_zip(data)
        if problem:
            sub.rejected = Outcome(oc.REJECTED, problem)
            return
        sub.notebook_name = nb_name
    else:
        nb_bytes, sub.notebook_name = data, path.name
    sub.notebook, sub.rejected, sub.repairs = parse_notebook_repaired(nb_bytes, assignment_name)


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


def parse_notebook_repaired(
    data: bytes, assignment_name: str | None
) -> tuple[dict[str, Any] | None, Outcome | None, str]:
    """``(notebook, None, what was repaired)`` or ``(None, why it is rejected, "")``."""
    nb, problem, repairs = _parse(data)
    if nb is None:
        return None, Outcome(oc.REJECTED, problem), ""
    otter = nb["metadata"].get("otter")
    got = otter.get("assignment_name") if isinstance(otter, dict) else None
    if assignment_name and got != assignment_name:
        if got is None:
            detail = f"none (metadata.otter.assignment_name is missing; expected {assignment_name!r})"
        else:
            detail = f"{got!r} (expected {assignment_name!r})"
        return None, Outcome(oc.WRONG_ASSIGNMENT, str(detail)[:300]), ""
    return nb, None, repairs


def decode(data: bytes) -> tuple[str, str]:
    """The text of a notebook file and how it was decoded: by its BOM (UTF-8/16/32), as UTF-16 when
    the first bytes say so without one, else as UTF-8 with the bytes that are not kept as
    surrogates (``surrogateescape``: :func:`_repair_text` replaces and counts them)."""
    for bom, codec, label in BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "surrogatepass" if "16" in codec else "replace"), (
                f"decoded as {label} (byte-order mark)" if label else ""
            )
    if len(data) >= 4 and data[0] != 0 and data[1] == 0 and data[3] == 0:
        return data.decode("utf-16-le", "surrogatepass"), "decoded as UTF-16 (no byte-order mark)"
    if len(data) >= 4 and data[0] == 0 and data[1] != 0 and data[2] == 0:
        return data.decode("utf-16-be", "surrogatepass"), "decoded as UTF-16 (no byte-order mark)"
    return data.decode("utf-8", "surrogateescape"), ""


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _repair_text(value: Any, count: list[int]) -> Any:
    """``value`` with every lone surrogate (an undecodable byte, or a ``\\udXXX`` escape) made U+FFFD."""
    if isinstance(value, str):
        fixed, n = _LONE.subn("\ufffd", value)
        count[0] += n
        return fixed
    if isinstance(value, list):
        return [_repair_text(v, count) for v in value]
    if isinstance(value, dict):
        return {_repair_text(k, count): _repair_text(v, count) for k, v in value.items()}
    return value


def _cells(raw: dict) -> list | None:
    """The raw cells of an nbformat 4 notebook, or of an nbformat 3 one's worksheets."""
    if isinstance(raw.get("cells"), list):
        return raw["cells"]
    sheets = raw.get("worksheets")
    if raw.get("nbformat") == 3 and isinstance(sheets, list) and all(isinstance(w, dict) for w in sheets):
        cells = [c for w in sheets for c in (w.get("cells") if isinstance(w.get("cells"), list) else [])]
        return cells
    return None


def _normalise(nb: Any) -> list[str]:
    """Metadata that must be objects and outputs that must be lists, made so; what was reset."""
    import nbformat

    reset = []
    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = nbformat.NotebookNode()
        reset.append("the notebook's metadata")
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
            reset.append(f"cell {i + 1}")
        if cell.get("cell_type") == "code" and not isinstance(cell.get("outputs"), list):
            cell["outputs"] = []
            reset.append(f"cell {i + 1}")
    return list(dict.fromkeys(reset))


def _parse(data: bytes) -> tuple[dict[str, Any] | None, str, str]:
    """``(notebook, "", repairs)`` or ``(None, why not, "")``."""
    import nbformat

    if not data.strip(b" \t\r\n\x00"):
        return None, "empty file: the submission has no content", ""
    text, decoded = decode(data)
    repairs = [decoded] if decoded else []
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"not a notebook: invalid JSON (line {e.lineno}, column {e.colno}: {e.msg})", ""
    except RecursionError:
        return None, f"not a notebook: JSON nested too deeply (more than {MAX_DEPTH} levels)", ""
    if not isinstance(raw, dict):
        return None, "not a notebook: JSON without a 'cells' list", ""
    if _depth(raw) > MAX_DEPTH:
        return None, f"not a notebook: JSON nested too deeply (more than {MAX_DEPTH} levels)", ""
    cells = _cells(raw)
    if cells is None:
        return None, "not a notebook: JSON without a 'cells' list", ""
    bad = [i + 1 for i, c in enumerate(cells) if not isinstance(c, dict)]
    if bad:
        return None, f"not a notebook: cell {bad[0]} is not a JSON object", ""
    where: list[str] = []
    total = 0
    for i, cell in enumerate(cells):
        count = [0]
        fixed = _repair_text(cell, count)
        cell.clear()  # in place: an nbformat 3 notebook's cells live in its worksheets
        cell.update(fixed)
        if count[0]:
            total += count[0]
            where.append(f"{i + 1} ({cell.get('cell_type', '?')})")
    for key in list(raw):
        if key in ("cells", "worksheets"):
            continue
        count = [0]
        value = raw.pop(key)
        raw[_repair_text(key, count)] = _repair_text(value, count)
        if count[0]:
            total += count[0]
            where.append(_repair_text(key, [0])[:40])
    if total:
        repairs.append(f"{total} undecodable character(s) replaced by U+FFFD in cell(s) {', '.join(where[:10])}")
    major = raw.get("nbformat")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as e:  # nbformat raises many unrelated types for a damaged notebook
        return None, f"not a notebook: {type(e).__name__}: {str(e)[:200]}", ""
    count = [0]
    nb = nbformat.from_dict(_repair_text(dict(nb), count))  # what an upgrade may have brought back
    if count[0] and not total:
        repairs.append(f"{count[0]} undecodable character(s) replaced by U+FFFD")
    if isinstance(major, int) and major < 4:
        repairs.append(f"upgraded from nbformat {major} to 4")
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(cell.get("source"), str):
            return None, f"not a notebook: cell {i + 1} has no valid type or text", ""
    reset = _normalise(nb)
    if reset:
        repairs.append(f"invalid metadata or outputs dropped in {', '.join(reset[:10])}")
    try:
        nbformat.writes(nb).encode("utf-8")  # what the executor will do with it
    except Exception as e:  # a structure nbformat cannot write back
        return None, f"not a notebook: {type(e).__name__}: {str(e)[:200]}", ""
    if not any(c.get("cell_type") == "code" and c.get("source", "").strip() for c in nb.cells):
        return None, "empty notebook: no code cell has any code", ""
    return nb, "", "; ".join(repairs)
