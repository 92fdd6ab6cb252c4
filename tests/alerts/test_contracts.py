"""The alerts' import contracts bite: a planted import breaks the contract that forbids it
(the same method as tests/opsportal/test_architecture.py, on a copy of the tree)."""

import pytest

from tests.import_contracts import lint_imports, plant


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("opsportal/alerts/evaluator.py", "from opsportal.alerts import models  # noqa", "Alerts layers"),
        ("opsportal/alerts/services.py", "from opsportal.alerts import tasks  # noqa", "Alerts layers"),
        (
            "opsportal/alerts/observe.py",
            "from opsportal.portal import dashboard  # noqa",
            "Layers: project, portal, apps, API kit, audit, lib",
        ),
        (
            "opsportal/queues.py",
            "from opsportal.alerts import models  # noqa",
            "Layers: project, portal, apps, API kit, audit, lib",
        ),
        (
            "opsportal/alerts/observe.py",
            "from walletops.clients import docker  # noqa",
            "Alerts read the apps through their domain modules",
        ),
        (
            "opsportal/alerts/selectors.py",
            "from plannings import models  # noqa",
            "Alerts read the apps through their domain modules",
        ),
        (
            "opsportal/alerts/conditions.py",
            "from walletops import fleet  # noqa",
            "Alerts read the apps through their domain modules",
        ),
        ("walletops/hosts.py", "from opsportal.alerts import models  # noqa", "Apps import only lib of the project"),
        ("opsportal/alerts/services.py", "import rest_framework  # noqa", "DRF only in web layers"),
    ],
)
def test_a_forbidden_import_in_or_into_the_alerts_breaks_its_contract(tree, module, line, contract):  # noqa: F811
    plant(tree, module, line)
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout[-3000:]
    assert f"{contract} BROKEN" in result.stdout, result.stdout[-3000:]
