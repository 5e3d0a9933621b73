"""The whole repository is formatted and linted by ruff, as pyproject.toml configures it (ruff is pinned in
tests/requirements.txt): CI fails on unformatted code. To fix what this finds: ruff format . && ruff check --fix ."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT


def ruff(*args: str) -> subprocess.CompletedProcess:
    try:
        import ruff  # noqa: F401  (the pinned one, installed with tests/requirements.txt)
    except ImportError:
        pytest.fail("ruff is not installed: pip install -r tests/requirements.txt")
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_code_is_formatted():
    result = ruff("format", "--check", "--diff", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_the_code_passes_the_linter():
    result = ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_the_check_finds_unformatted_code(tmp_path):
    (tmp_path / "packed.py").write_text("import os, sys\nx,y = 1,2\n")
    config = os.path.join(ROOT, "pyproject.toml")
    assert ruff("format", "--check", "--config", config, str(tmp_path)).returncode == 1
    assert ruff("check", "--config", config, str(tmp_path)).returncode == 1
