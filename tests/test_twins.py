"""ppo_isaac.py and sac_isaac.py each stand alone, so the run infrastructure they share is carried twice: this
checks that every shared definition is the same text in both, so that a fix in one cannot silently skip the other."""

import ast
import os

import pytest
from conftest import ROOT

# Definitions that are the algorithm's own (or its own data), allowed to differ between the two scripts.
ALGORITHM = {
    "DEMO",
    "CHECKPOINT_PARTS",
    "KEPT_ON_RESUME",
    "TASK_DEFAULTS",
    "Args",
    "check_args",
    "mlp",
    "LOSS_NAMES",
    "main",
}
# The shared run infrastructure: present in both, the same text (a definition missing from one fails too).
SHARED = {
    "per_task",
    "RunningMeanStd",
    "SCRIPT",
    "fail",
    "parse_args",
    "sum_over_ranks",
    "average_over_ranks",
    "make_envs",
    "evaluate",
    "Run",
}


def top_level_definitions(source: str):
    """name -> source text of each top-level function, class and assignment; and the __main__ block."""
    definitions = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        elif isinstance(node, ast.If) and "__main__" in ast.get_source_segment(source, node.test):
            name = "__main__"
        else:
            continue
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        definitions[name] = "\n".join(source.splitlines()[start - 1 : node.end_lineno])
    return definitions


def drifted(ppo_source: str, sac_source: str):
    """Names of shared definitions that are missing from one script or differ between them."""
    ppo, sac = top_level_definitions(ppo_source), top_level_definitions(sac_source)
    common = (set(ppo) & set(sac)) - ALGORITHM
    return sorted(n for n in common | SHARED | {"__main__"} if n not in ppo or n not in sac or ppo[n] != sac[n])


def read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def test_shared_infrastructure_is_one_text_in_both_scripts():
    assert drifted(read("ppo_isaac.py"), read("sac_isaac.py")) == []


@pytest.mark.parametrize("edit", ["change", "remove"])
def test_the_check_finds_a_drifted_or_missing_definition(edit):
    ppo, sac = read("ppo_isaac.py"), read("sac_isaac.py")
    line = "        if self.signals > 1:\n"  # in Run.on_signal
    assert line in sac
    changed = (
        sac.replace(line, "        if self.signals > 2:\n")
        if edit == "change"
        else sac.replace("def evaluate(", "def evaluate_renamed(")
    )
    assert drifted(ppo, changed) == (["Run"] if edit == "change" else ["evaluate"])
