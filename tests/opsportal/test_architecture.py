"""The import contracts of pyproject.toml hold, and they bite: a planted bad import breaks them.

``make lint`` runs ``lint-imports`` on the tree; these tests run it on a copy of the three packages
with one import that a layer forbids, so a contract that silently stopped checking would show.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path) -> Path:
    for package in ("opsportal", "plannings", "walletops"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("walletops/containers.py", "import rest_framework  # noqa", "DRF only in web layers"),
        ("walletops/fleet.py", "from plannings import models  # noqa", "Apps independent of each other"),
        (
            "plannings/selectors.py",
            "from opsportal.portal import dashboard  # noqa",
            "Apps import only lib of the project",
        ),
        ("opsportal/lib/timefmt.py", "import walletops.models  # noqa", "Lib imports no app"),
        ("walletops/clients/docker.py", "from walletops import fleet  # noqa", "Clients know only their server"),
        ("plannings/models.py", "from plannings import services  # noqa", "Plannings layers"),
        ("walletops/containers.py", "from walletops.web import errors  # noqa", "Walletops layers"),
        (
            "opsportal/api/tokens.py",
            "import walletops.models  # noqa",
            "Layers: project, portal, apps, API kit, audit, lib",
        ),
        (
            "opsportal/portal/dashboard.py",
            "from walletops.web import api  # noqa",
            "Nothing outside wallet ops imports walletops.web",
        ),
        (
            "opsportal/alerts/observe.py",
            "from plannings.web import api  # noqa",
            "Nothing outside plannings imports plannings.web",
        ),
        (
            "walletops/services.py",
            "from opsportal.api import errors  # noqa",
            "Only web layers use the API kit's web modules",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tree, module, line, contract):
    _plant(tree, module, line)
    result = _lint(tree)
    assert result.returncode == 1, result.stdout[-3000:]
    assert f"{contract} BROKEN" in result.stdout, result.stdout[-3000:]
