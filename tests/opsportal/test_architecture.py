"""The import contracts of pyproject.toml hold, and they bite: a planted bad import breaks them.

``make lint`` runs ``lint-imports`` on the tree; these tests run it on a copy of the three packages
with one import that a layer forbids, so a contract that silently stopped checking would show.
"""

import ast
from pathlib import Path

import pytest

from tests.import_contracts import lint_imports, plant

ROOT = Path(__file__).resolve().parents[2]


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
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
    plant(tree, module, line)
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout[-3000:]
    assert f"{contract} BROKEN" in result.stdout, result.stdout[-3000:]


def _imported_test_modules(path: Path) -> list[str]:
    """The ``test_*`` modules a file imports, absolute or relative (``from tests.x import test_y`` too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            modules = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [module for module in modules if module.rsplit(".", 1)[-1].startswith("test_")]
    return found


def test_no_test_module_imports_another_test_module():
    """Shared fixtures live in a conftest.py, shared helpers in a helpers module: a test module imported by
    another has its tests' module run twice at import, and its fixtures reach the importer by name only."""
    offenders = {
        path.relative_to(ROOT).as_posix(): modules
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if (modules := _imported_test_modules(path))
    }
    assert offenders == {}


def test_the_import_check_sees_every_form_of_importing_a_test_module(tmp_path):
    planted = tmp_path / "test_planted.py"
    planted.write_text(
        "from tests.opsportal.test_dashboard import DASHBOARD\nimport tests.browser.test_portal\n"
        "from tests.walletops import test_logs_follow\nfrom .test_charts import Snap\n"
        "from tests.opsportal import helpers\n"
    )
    assert _imported_test_modules(planted) == [
        "tests.opsportal.test_dashboard", "tests.browser.test_portal", "tests.walletops.test_logs_follow",
        ".test_charts",
    ]  # fmt: skip
