"""The project's own class grader: execute untrusted, verify trusted (``python -m ds201_lab1.grade``).

Grades every notebook (``.ipynb``) and otter export (``.zip``) under a folder without Docker, with
the hidden tests of the autograder zip as the single source of truth, and writes otter grade's
``final_grades.csv``, a bilingual feedback file per submission and a class summary.

One module per stage:

- ``submissions`` — find submissions, hash them, read them safely (zip members checked, never
  ``.OTTER_LOG``), reject the malformed ones with a clear status;
- ``execute``     — the untrusted stage, parent side: scratch folder, sandboxed worker, wall-clock,
  memory and disk limits, artifacts collected into the cache (also after a kill: what was saved
  before is graded);
- ``sandbox``     — the untrusted stage, worker side: namespaces, chroot, unprivileged user, the
  notebook run with nbclient in otter's grading mode;
- ``snapshot``    — runs inside the student's kernel: saves the values the tests need as data only
  (JSON, ``.npy``, Keras architecture JSON + weights as ``.npy``), never a pickle or HDF5;
- ``verify``      — the trusted stage: rebuilds the values from the artifacts (models from an
  allow-list only) and runs the autograder's test files exactly as otter does;
- ``verifiers``   — the trusted stage, parent side: one long-lived ``verify`` process per job
  (TensorFlow and the data loaded once per run), replaced when it dies or hangs;
- ``report``      — ``final_grades.csv``, feedback files, class summary and score histogram;
- ``cli``         — argparse, the job pool, the cache and the progress display.

The README's "Where things live" table lists the others (cache, outcome, isolation, cgroups,
processes, rebuild, cluster).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

# Optional packages that libraries import at their own import only because they are installed
# (measured here, per process start):
# - jsonschema, imported by nbformat (so by otter and nbclient), compiles 38 grammars of
#   rfc3987_syntax (which jupyterlab brings) to check an "iri" format no notebook has: ≈ 1.2 s.
#   The grader's processes never import it (they run no check that could want it).
# - Keras imports scikit-learn (its wrappers), pandas (data adapters), matplotlib (plots) and
#   SciPy, none of which rebuilding or running a model needs: ≈ 2 s. The verifier hides them while
#   it imports Keras only; a check that needs one imports it as usual afterwards.
NOT_IMPORTED_BY_GRADER = ("rfc3987_syntax",)
KERAS_EXTRAS = ("sklearn", "pandas", "matplotlib", "scipy")


@contextlib.contextmanager
def hidden(names: tuple[str, ...]) -> Iterator[None]:
    """Inside, ``import name`` raises ImportError, as if the package were not installed (the
    libraries above fall back); a package already imported stays. Afterwards it imports as usual."""
    added = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(added))  # a None entry is Python's "not importable"
    try:
        yield
    finally:
        for name in added:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def skip_imports(names: tuple[str, ...]) -> None:
    """:func:`hidden` for the rest of this process (the grader's own processes, before their imports)."""
    for name in names:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
