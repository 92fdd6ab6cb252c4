"""The wallet ops tests' private Docker engines, for the fuzz run's containers endpoints."""

from tests.walletops.conftest import fleet  # noqa: F401
