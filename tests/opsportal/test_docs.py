"""Every environment variable the settings read is documented in README.md and .env.example."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = (
    r"(?:portal_str|portal_list|strict_bool|strict_int|upstream_int|upstream_flag|upstream_str|database_config"
    r"|docker_hosts|strict_fraction|strict_networks)"
)


def _variables() -> set[str]:
    source = (ROOT / "opsportal" / "settings.py").read_text()
    return set(re.findall(READERS + r'\(\s*"([A-Z][A-Z0-9_]+)"', source))


def test_the_settings_read_the_variables_we_expect_to_find():
    assert {"DJANGO_ENV", "DATABASE_URL", "OPS_TOKEN", "CURL_TIMEOUT", "PLANNINGS_FEED_MAX_BYTES"} <= _variables()


def test_every_variable_is_in_the_readme_and_env_example():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    missing = {name: [doc for doc, text in (("README.md", readme), (".env.example", example))
                      if f"`{name}`" not in text and f"{name}=" not in text]
               for name in _variables()}  # fmt: skip
    assert {name: docs for name, docs in missing.items() if docs} == {}
