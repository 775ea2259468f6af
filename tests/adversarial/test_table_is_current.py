"""docs/adversarial.md (the README's attack table) was made from the current checks and corpus.

The table's `otter run` column depends on the hidden tests and the checks (in the autograder zip)
and on the corpus; the tool records a sha256 of each. When one changes, regenerate the table:
``.venv/bin/python tools/adversarial_table.py`` (about 25 minutes here).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cases
from helpers import ROOT, ZIP

sys.path.insert(0, str(ROOT / "tools"))
import adversarial_table  # noqa: E402

DOC = ROOT / "docs" / "adversarial.md"
FIX = "regenerate it: .venv/bin/python tools/adversarial_table.py"


def _recorded(label: str) -> str:
    found = re.search(rf"{re.escape(label)}[^`]*?sha256 ([0-9a-f]{{12}})…", DOC.read_text())
    assert found, f"{DOC} does not record the sha256 of {label}: {FIX}"
    return found.group(1)


def test_the_attack_table_was_made_from_the_current_checks_and_corpus():
    now = {
        "`autograder/lab1-autograder.zip` (its hidden tests and checks": adversarial_table.checks_digest(ZIP),
        "`tests/adversarial/cases.py`": adversarial_table.digest(Path(cases.__file__)),
    }
    for label, digest in now.items():
        assert _recorded(label) == digest, f"{DOC.name} was made from another {label.split('`')[1]}: {FIX}"
