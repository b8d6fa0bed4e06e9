"""The layering and the keyspace, checked on the source itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.keyspace import APP_PREFIX, BROKER_NAMESPACE, KEYS, KeySpace
from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("engine", "api", "workers", "earshot", "earshot_client", "models")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_hold_on_the_tree() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("engine/clock.py", "import api.errors", "engine is the domain"),
        ("api/health.py", "import workers.actors", "api and workers never import each other"),
        ("earshot_client/errors.py", "import engine.errors", "the Python client imports nothing of the server"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # added by the test\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout, result.stdout


def test_application_keys_and_queue_keys_can_never_meet() -> None:
    assert APP_PREFIX != BROKER_NAMESPACE
    # Every queue key Dramatiq writes starts with "<namespace>:"; every application key with "earshot:".
    assert not f"{BROKER_NAMESPACE}:".startswith(f"{APP_PREFIX}:")
    for queue in ("processing", "pools", "rec", "t", "metrics", "orphans"):
        assert f"{BROKER_NAMESPACE}:{queue}" not in {KEYS.processing, KEYS.pools, KEYS.orphans}
    with pytest.raises(ValueError):
        KeySpace(BROKER_NAMESPACE)


def test_only_the_keyspace_module_spells_redis_keys() -> None:
    pattern = re.compile(r"""["'](earshot|\{self\._p\}|\{prefix\}):[^ ]""")
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("engine", "api", "workers", "earshot")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "keyspace.py" and pattern.search(path.read_text())
    ]
    assert offenders == []
