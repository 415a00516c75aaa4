"""The ``>>>`` examples in the docstrings of batchnb's public API still run and print what they say.

They are the examples the API reference shows, so a change of behaviour (a new repr, a renamed
field, a different error message) must update them. Only examples that need no service are
written as ``>>>``; the others are plain code blocks and are exercised by the notebooks.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

import batchnb

# The modules behind `import batchnb`'s names, and the errors.
MODULES = sorted({*batchnb._LAZY.values(), "batchnb.errors"})


def _examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name in MODULES:
        module = importlib.import_module(name)
        tests += [t for t in finder.find(module) if t.examples]
    return tests


EXAMPLES = _examples()


def test_the_public_api_has_examples() -> None:
    names = {t.name.rsplit(".", 1)[-1] for t in EXAMPLES}
    assert {"sweep", "with_merge", "PoolSpec", "TaskSpec", "BatchnbError", "ValidationError"} <= names


@pytest.mark.parametrize("test", EXAMPLES, ids=lambda t: t.name)
def test_docstring_example_runs(test: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []

    def report(out: str) -> None:
        failures.append(out)

    runner.run(test, out=report)
    assert runner.failures == 0, "".join(failures)
