"""A pytest plugin for ``make bench``: record the whole suite's wall time in ``.bench/history.jsonl``.

Loaded by ``pyproject.toml``'s pytest options (``-p pytest_timing``). Only a run of the whole suite
is recorded: no path or node arguments (pytest falls back to ``testpaths``) and none of -k, -m,
--deselect, -x/--maxfail, --lf, --ff, --sw, --collect-only.
"""

from __future__ import annotations

import time

import pytest

_START = pytest.StashKey[float]()
# Options that run only part of the suite: such a run is not a `make test` timing.
_PARTIAL = ("keyword", "markexpr", "deselect", "maxfail", "lf", "failedfirst", "stepwise", "collectonly")


def pytest_sessionstart(session) -> None:
    session.config.stash[_START] = time.monotonic()


def pytest_sessionfinish(session, exitstatus) -> None:
    config = session.config
    partial = any(getattr(config.option, o, None) for o in _PARTIAL)
    if partial or config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    from ds201_lab1.build import record_timing

    seconds = time.monotonic() - config.stash.get(_START, time.monotonic())
    record_timing("make test", seconds, int(exitstatus), tests=session.testscollected)
