"""docs/adversarial.md (the README's attack table) was made from the current autograder and corpus.

The table's `otter run` column depends on the hidden tests and checks (all in the autograder zip,
which the build writes byte for byte the same from the same sources) and on the corpus; the tool
records the sha256 of both. When either changes, regenerate the table:
``.venv/bin/python tools/adversarial_table.py`` (about 25 minutes here).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cases
from helpers import ROOT, ZIP

DOC = ROOT / "docs" / "adversarial.md"


def _recorded(name: str) -> str:
    found = re.search(rf"`{re.escape(name)}` \(sha256 ([0-9a-f]{{12}})…\)", DOC.read_text())
    assert found, f"{DOC} does not record the sha256 of {name}: regenerate it with tools/adversarial_table.py"
    return found.group(1)


def test_the_attack_table_was_made_from_the_current_autograder_and_corpus():
    fix = "regenerate it: .venv/bin/python tools/adversarial_table.py"
    for name, path in (("autograder/lab1-autograder.zip", ZIP), ("tests/adversarial/cases.py", Path(cases.__file__))):
        now = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        assert _recorded(name) == now, f"{DOC.name} was made from another {name} ({_recorded(name)}, now {now}): {fix}"
