import pytest
import structlog

pytest_plugins = ["pbx_bridge.lab.pytest_plugin"]


@pytest.fixture(autouse=True)
def _fresh_logging():
    """Commands run in-process configure structlog (level, stream); undo it after each test so
    a later test's capture_logs sees every level and no test writes to a closed stream."""
    yield
    structlog.reset_defaults()
