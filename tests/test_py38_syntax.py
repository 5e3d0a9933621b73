"""Isaac Gym Preview 4 runs only on Python 3.6-3.8: the top-level scripts must stay within Python 3.8."""

import ast
import os
import subprocess
import sys

import pytest
from conftest import ROOT

VERMIN = [
    sys.executable,
    "-c",
    "import sys; from vermin.main import main; sys.argv[0] = 'vermin'; sys.exit(main())",
    "-t=3.8-",
    "--violations",
    "--no-tips",
]
SCRIPTS = [f for f in ("isaac_env.py", "ppo_isaac.py", "sac_isaac.py") if os.path.exists(os.path.join(ROOT, f))]


@pytest.mark.parametrize("script", SCRIPTS)
def test_parses_as_python_38(script):
    with open(os.path.join(ROOT, script)) as f:
        ast.parse(f.read(), filename=script, feature_version=(3, 8))


def test_vermin_finds_nothing_newer_than_38():
    result = subprocess.run(VERMIN + SCRIPTS, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_can_fail(tmp_path):
    newer = tmp_path / "newer.py"
    newer.write_text("def f(x: int | None):\n    match x:\n        case _:\n            return x\n")
    result = subprocess.run(VERMIN + [str(newer)], capture_output=True, text=True)
    assert result.returncode != 0
    with pytest.raises(SyntaxError):
        ast.parse(newer.read_text(), feature_version=(3, 8))
