"""The manual questions: their list, prompt and key from the master, and a notebook's answers to them.

Shared by the review pack (``review``) and the Gradescope PDF (``manual_pdf``); it needs the
standard library and ``markdown-it-py`` only, so it can ship in the autograder zip.

- ``manual_questions()`` reads the master (``assignment/lab1.ipynb``): every ``# BEGIN QUESTION``
  cell with ``manual: true`` gives a question's name, points, prompt (the Markdown before its
  solution) and key (the solution cells). The master is the one home of that list.
- ``regions()`` finds the answers in a student's notebook the way otter's PDF filtering does:
  between ``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->`` in Markdown cells.
  ``match()`` names them: by prompt text, else by order, else by the closest prompt.
- Everything read from a notebook is untrusted: ``markdown_html()`` escapes raw HTML and drops
  images and link targets; ``outputs()`` keeps PNG/JPEG images that decode (size-capped) and
  plain text (length-capped), and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import html
import re
import struct
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MASTER = Path("assignment", "lab1.ipynb")  # in the checkout, where `make grade` and `make review` run

BEGIN = re.compile(r"<!--\s*BEGIN QUESTION\s*-->", re.I)  # otter.export.exporters.utils
END = re.compile(r"<!--\s*END QUESTION\s*-->", re.I)
PLACEHOLDER = "_Type your answer here, replacing this text._"  # otter assign's blank Markdown answer

MAX_TEXT = 4000  # characters of one text output or one Markdown answer kept
MAX_IMAGE_BYTES = 3 * 2**20  # one image
MAX_IMAGE_SIDE = 4000  # pixels
MAX_IMAGES = 12  # per answer
MAX_OUTPUTS = 30  # per answer


class MasterError(ValueError):
    """The master notebook cannot give the manual questions; the message says how to fix it."""


@dataclass
class Question:
    """A manual question of the master."""

    name: str
    points: float
    prompt: str  # Markdown
    key: list[dict[str, Any]]  # the solution cells: {"cell_type", "source"}


@dataclass
class Part:
    """One cell (or the part of a Markdown cell) inside a question's region of a notebook."""

    kind: str  # "markdown", "code" or "raw"
    source: str
    outputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Region:
    """What lies between one pair of otter markers: the prompt cells, then the answer."""

    prompt: str
    parts: list[Part]

    @property
    def blank(self) -> bool:
        """Nothing written: the released placeholders only (``...`` code, otter's Markdown text)."""
        for p in self.parts:
            text = p.source.strip()
            if p.outputs or (text and text not in ("...", PLACEHOLDER) and p.kind != "raw"):
                return False
        return True


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


# ---------------------------------------------------------------------------------------------
# The master
# ---------------------------------------------------------------------------------------------
def _strip_solution_markers(code: str) -> str:
    lines = [ln for ln in code.splitlines() if not re.fullmatch(r"\s*#\s*(BEGIN|END) SOLUTION\s*", ln)]
    return "\n".join(re.sub(r"\s*#\s*SOLUTION\s*$", "", ln) for ln in lines).strip("\n")


def solutions_of(master: Path) -> Path:
    """The key executed (its plots), when built: ``solutions/`` beside the master's ``assignment/``."""
    return Path(master).parent.parent / "solutions" / Path(master).name


def assignment_name(master: Path = MASTER) -> str | None:
    """The ``name`` of the master's ASSIGNMENT CONFIG (the notebooks' ``metadata.otter.assignment_name``)."""
    import json

    import yaml

    try:
        cell = json.loads(Path(master).read_text(encoding="utf-8"))["cells"][0]
        config = yaml.safe_load("".join(cell["source"]).split("# ASSIGNMENT CONFIG", 1)[-1])
    except (OSError, ValueError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None
    return config.get("name") if isinstance(config, dict) else None


def manual_questions(master: Path = MASTER) -> list[Question]:
    """The master's manual questions, in notebook order."""
    import json

    import yaml

    try:
        nb = json.loads(Path(master).read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MasterError(
            f"cannot read the manual questions from {master}: {e}; run in the checkout (as `make grade` does) "
            "or pass --master <the checkout>/assignment/lab1.ipynb"
        ) from e
    questions: list[Question] = []
    current: Question | None = None
    state = ""
    for cell in cells:
        src = _source(cell)
        first = src.strip().splitlines()[0].strip() if src.strip() else ""
        if cell.get("cell_type") == "raw" and first == "# BEGIN QUESTION":
            config = yaml.safe_load("\n".join(src.strip().splitlines()[1:])) or {}
            current, state = None, ""
            if config.get("manual"):
                points = config.get("points")
                current = Question(str(config["name"]), float(1 if points is None else points), "", [])
                questions.append(current)
                state = "prompt"
            continue
        if current is None:
            continue
        if cell.get("cell_type") == "raw" and first in ("# END QUESTION", "# BEGIN TESTS"):
            current, state = None, ""
        elif cell.get("cell_type") == "raw" and first == "# BEGIN SOLUTION":
            state = "key"
        elif cell.get("cell_type") == "raw" and first == "# END SOLUTION":
            state = "after"
        elif state == "prompt" and cell.get("cell_type") == "markdown":
            current.prompt = (current.prompt + "\n\n" + src).strip()
        elif state == "key":
            text = _strip_solution_markers(src) if cell.get("cell_type") == "code" else src
            current.key.append({"cell_type": cell.get("cell_type"), "source": text})
    if not questions:
        raise MasterError(f"{master} has no manual question (`manual: true` in a BEGIN QUESTION cell)")
    return questions


# ---------------------------------------------------------------------------------------------
# A notebook's answers
# ---------------------------------------------------------------------------------------------
def regions(nb: dict[str, Any]) -> list[Region]:
    """The marked regions of a notebook, in order (otter's filtering, cell by cell)."""
    found: list[Region] = []
    current: Region | None = None
    prompt_open = False  # still in the read-only prompt cells right after BEGIN
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if not isinstance(cell, dict):
            continue
        kind, src = str(cell.get("cell_type", "")), _source(cell)
        if kind == "code":
            if current is not None:
                outs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
                current.parts.append(Part("code", src, outs))
                prompt_open = False
            continue
        inside: list[str] = []
        for line in src.split("\n"):
            if current is None:
                if BEGIN.search(line):
                    current, prompt_open, inside = Region("", []), True, [BEGIN.split(line, 1)[1]]
            elif END.search(line):
                inside.append(END.split(line, 1)[0])
                _add_text(current, kind, "\n".join(inside), cell, prompt_open)
                found.append(current)
                current, inside = None, []
            else:
                inside.append(line)
        if current is not None and inside:
            _add_text(current, kind, "\n".join(inside), cell, prompt_open)
            editable = (cell.get("metadata") or {}).get("editable", True)
            prompt_open = prompt_open and editable is False
    if current is not None:
        found.append(current)  # no END marker: the region runs to the end, as in otter's filter
    return found


def _add_text(region: Region, kind: str, text: str, cell: dict, prompt_open: bool) -> None:
    editable = (cell.get("metadata") or {}).get("editable", True)
    if prompt_open and (editable is False or not region.prompt):
        region.prompt = (region.prompt + "\n\n" + text.strip()).strip()
    elif text.strip():
        region.parts.append(Part(kind, text.strip("\n")))


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def match(found: list[Region], questions: list[Question]) -> dict[str, Region | None]:
    """Question name -> its region: the same prompt text; else, when as many regions are left as
    questions, the order; else the closest prompt (similarity at least 0.6). ``None``: not found."""
    out: dict[str, Region | None] = {q.name: None for q in questions}
    left = list(range(len(found)))
    for q in questions:
        for i in left:
            if _norm(found[i].prompt) == _norm(q.prompt):
                out[q.name] = found[i]
                left.remove(i)
                break
    missing = [q for q in questions if out[q.name] is None]
    if missing and len(left) == len(missing):
        for q, i in zip(missing, left):
            out[q.name] = found[i]
        return out
    for q in missing:
        scored = [(difflib.SequenceMatcher(None, _norm(found[i].prompt), _norm(q.prompt)).ratio(), i) for i in left]
        if scored and max(scored)[0] >= 0.6:
            i = max(scored)[1]
            out[q.name] = found[i]
            left.remove(i)
    return out


def answers(nb: dict[str, Any] | None, questions: list[Question]) -> dict[str, Region | None]:
    return match(regions(nb or {}), questions)


# ---------------------------------------------------------------------------------------------
# Safe rendering
# ---------------------------------------------------------------------------------------------
def clip(text: str, limit: int = MAX_TEXT) -> str:
    text = unicodedata.normalize("NFC", text)
    return text if len(text) <= limit else text[:limit] + f"\n… [{len(text) - limit} more characters not shown]"


_MD = None


def markdown_html(text: str) -> str:
    """Markdown -> HTML with raw HTML escaped, no images and no link targets (their text stays)."""
    global _MD
    if _MD is None:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        md.enable("table").enable("strikethrough")
        md.disable("image")
        md.add_render_rule("link_open", lambda *a, **k: "<span>")
        md.add_render_rule("link_close", lambda *a, **k: "</span>")
        _MD = md
    return _MD.render(clip(text))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def _image_size(data: bytes, mime: str) -> tuple[int, int] | None:
    if mime == "image/png" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    i = 2
    while mime == "image/jpeg" and i + 9 < len(data):  # walk the JPEG segments to a SOF marker
        if data[i] != 0xFF:
            return None
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def decode_image(value: Any, mime: str) -> tuple[bytes | None, str]:
    """``(bytes, "")`` for a PNG/JPEG that is what it says and not too large, else ``(None, why)``."""
    text = "".join(value) if isinstance(value, list) else value
    if not isinstance(text, str) or len(text) > MAX_IMAGE_BYTES * 4 // 3 + 1024:
        return None, "image too large or malformed"
    try:
        data = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        return None, "image not valid base64"
    if not data.startswith(_MAGIC[mime]):
        return None, f"not a {mime} image"
    size = _image_size(data, mime)
    if size is None or not (0 < size[0] <= MAX_IMAGE_SIDE and 0 < size[1] <= MAX_IMAGE_SIDE):
        return None, f"image dimensions {size} outside 1–{MAX_IMAGE_SIDE} px"
    return data, ""


@dataclass
class Output:
    """A safe view of one notebook output."""

    kind: str  # "image" (data holds bytes), "text", "error" or "omitted" (text says what)
    text: str = ""
    mime: str = ""
    data: bytes = b""


def outputs(part: Part) -> list[Output]:
    """The outputs of a code cell, made safe: images checked, text capped, the rest named only."""
    shown: list[Output] = []
    images = 0
    for out in part.outputs[:MAX_OUTPUTS]:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "stream":
            shown.append(Output("text", clip(_ANSI.sub("", _join(out.get("text", ""))))))
        elif kind == "error":
            trace = _ANSI.sub("", "\n".join(str(t) for t in out.get("traceback", [])[-3:]))
            shown.append(Output("error", clip(f"{out.get('ename', '')}: {out.get('evalue', '')}\n{trace}".strip())))
        elif kind in ("display_data", "execute_result"):
            data = out.get("data") if isinstance(out.get("data"), dict) else {}
            mime = next((m for m in ("image/png", "image/jpeg") if m in data), None)
            if mime and images < MAX_IMAGES:
                raw, why = decode_image(data[mime], mime)
                if raw is not None:
                    images += 1
                    shown.append(Output("image", mime=mime, data=raw))
                else:
                    shown.append(Output("omitted", f"[{why}: not shown]"))
            elif "text/plain" in data:
                shown.append(Output("text", clip(_join(data["text/plain"]))))
            elif data:
                shown.append(Output("omitted", f"[an output of type {', '.join(sorted(data))[:80]}: not shown]"))
    if len(part.outputs) > MAX_OUTPUTS:
        shown.append(Output("omitted", f"[{len(part.outputs) - MAX_OUTPUTS} more outputs not shown]"))
    return shown


def _join(value: Any) -> str:
    return "".join(str(v) for v in value) if isinstance(value, list) else str(value)


def data_uri(out: Output) -> str:
    return f"data:{out.mime};base64,{base64.b64encode(out.data).decode()}"


def escape(text: str) -> str:
    return html.escape(text, quote=True)
