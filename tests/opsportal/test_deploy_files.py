"""The Dockerfile and Kamal's config/deploy.yml agree with the project.

Fast: nothing is built or deployed here. `make image-check` builds the image and runs its roles.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.urls import resolve
from docker.utils.build import exclude_paths

from plannings.web.api import PlanningsHealthApi
from plannings.web.auth import OPS_TOKEN_HEADER

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = yaml.safe_load((ROOT / "config" / "deploy.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# The configuration reference: docs/configuration.md, with the README and the other docs around it.
DOCUMENTATION = "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
SECRET = "kq3V8m-Zp1rT0sLw9yXc7BnE4uH2jG6fD5aQ_oR8iY3vW1tN0mK9lJ7hP4gF2dS6"
ROLE_PROCESSES = {"web": "web", "workers": "worker", "beat": "beat"}


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1]
            continue
        keyword, _, rest = current.strip().partition(" ")
        logical.append((keyword.upper(), rest.strip()))
        current = ""
    return logical


def _instruction(keyword: str) -> str:
    values = [rest for key, rest in _instructions() if key == keyword]
    assert values, f"the Dockerfile has no {keyword}"
    return values[-1]


def _generated_script(path: str) -> str:
    """A script the Dockerfile writes with printf '%s\\n' 'line' ... > path."""
    match = re.search(r"printf '%s\\n' \\\n((?:\s+'.*' \\\n)+)\s+> " + re.escape(path), DOCKERFILE)
    assert match, f"the Dockerfile does not write {path}"
    return "\n".join(re.findall(r"^\s+'(.*)' \\$", match.group(1), flags=re.M)) + "\n"


def _documented_variables() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", DOCUMENTATION))


def _env_names(env: dict) -> set[str]:
    clear = env.get("clear", {}) or {}
    secret = [name.split(":", 1)[0] for name in env.get("secret", []) or []]
    return set(clear) | set(secret)


# --- config/deploy.yml ----------------------------------------------------------------------------


def test_the_service_and_its_roles():
    assert DEPLOY["service"] == "opsportal"
    assert DEPLOY["image"].endswith("/opsportal")
    assert set(DEPLOY["servers"]) == set(ROLE_PROCESSES)


@pytest.mark.parametrize("role", sorted(ROLE_PROCESSES))
def test_each_role_runs_its_procfile_process_by_name(role):
    # The image's entrypoint runs the Procfile line of that name (tested below), so the commands
    # live in one place and their ${VAR:-default}s are expanded inside the container.
    assert DEPLOY["servers"][role]["cmd"] == ROLE_PROCESSES[role]
    assert ROLE_PROCESSES[role] in _procfile()


def test_several_workers_and_exactly_one_beat():
    servers = DEPLOY["servers"]
    assert len(servers["workers"]["hosts"]) >= 2
    assert len(servers["beat"]["hosts"]) == 1
    assert len(servers["web"]["hosts"]) >= 1


def test_every_env_name_is_a_documented_variable():
    names = _env_names(DEPLOY["env"])
    for role in DEPLOY["servers"].values():
        names |= _env_names(role.get("env", {}) or {})
    assert names - _documented_variables() == set()


def test_secrets_are_named_not_written_and_the_example_lists_them():
    env = DEPLOY["env"]
    secrets = set(env["secret"]) | set(DEPLOY["registry"]["password"])
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "OPS_TOKEN"} <= set(env["secret"])
    assert not secrets & set(env["clear"])
    example = (ROOT / ".kamal" / "secrets.example").read_text()
    assert secrets <= set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.M))


def test_the_clear_env_is_accepted_by_the_production_settings(tmp_path):
    # Strict readers stop start-up on a value they cannot parse: the clear values must pass
    # `check --deploy` with production settings (secrets stand in for .kamal/secrets).
    clear = {name: str(value) for name, value in DEPLOY["env"]["clear"].items()}
    assert clear["DJANGO_ENV"] == "production" and clear["DJANGO_ALLOWED_HOSTS"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "OPS_", "WALLET"))}
    env.update(
        clear, DJANGO_SETTINGS_MODULE="opsportal.settings", DJANGO_SECRET_KEY=SECRET, OPS_TOKEN="t" * 32,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", CELERY_BROKER_URL="redis://127.0.0.1:1/0",
        OPSPORTAL_VAR_DIR=str(tmp_path), WALLETOPS_DOCKER_HOSTS="production=tcp://10.0.0.3:2375",
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_the_proxy_reaches_the_port_gunicorn_binds_and_the_image_exposes():
    assert DEPLOY["proxy"]["app_port"] == 8000
    assert "${PORT:-8000}" in _procfile()["web"]
    assert _instruction("EXPOSE") == "8000"


def test_the_build_uses_debian_bookworm_slim_unless_told_otherwise():
    assert DEPLOY["builder"]["args"]["BASE_IMAGE"] == "debian:bookworm-slim"
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", DOCKERFILE, flags=re.M)
    assert [rest.split()[0] for key, rest in _instructions() if key == "FROM"] == ["${BASE_IMAGE}"] * 2


@pytest.mark.django_db
def test_the_proxy_healthcheck_path_is_served_to_kamal_proxy(client, settings):
    # kamal-proxy's health check sends Host: <container id>:<port>, no token, plain HTTP.
    settings.IS_PRODUCTION, settings.OPS_TOKEN = True, "prod-token"
    settings.ALLOWED_HOSTS, settings.SECURE_SSL_REDIRECT = ["ops.example.com"], True
    path = DEPLOY["proxy"]["healthcheck"]["path"]
    response = client.get(path, HTTP_HOST="a7535f905149:8000")
    assert response.status_code == 200 and response.content == b"ok\n"
    assert client.head(path, HTTP_HOST="a7535f905149:8000").status_code == 200
    # Only that path: the rest still checks the host, then redirects to HTTPS.
    assert client.get("/admin/login/", HTTP_HOST="a7535f905149:8000").status_code == 400
    assert client.post(path, HTTP_HOST="ops.example.com").status_code == 301


# --- Dockerfile -----------------------------------------------------------------------------------


def test_the_default_command_is_the_web_process():
    assert _instruction("CMD") == '["web"]'
    assert "web" in _procfile()
    assert _instruction("ENTRYPOINT") == '["/usr/local/bin/opsportal-entrypoint"]'


def test_the_entrypoint_runs_procfile_lines_by_name_and_anything_else_as_given(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\nweb: echo web on ${PORT:-8000}\nworker: echo worker $CELERY_CONCURRENCY\n")
    script = _generated_script("/usr/local/bin/opsportal-entrypoint").replace("/app/Procfile", str(procfile))
    entrypoint = tmp_path / "entrypoint"
    entrypoint.write_text(script)

    def run(*args, **env):
        return subprocess.run(
            ["/bin/sh", str(entrypoint), *args], env={"PATH": os.environ["PATH"], **env},
            capture_output=True, text=True, timeout=10,
        ).stdout  # fmt: skip

    assert run("web") == "web on 8000\n"
    assert run("web", PORT="9000") == "web on 9000\n"
    assert run("worker", CELERY_CONCURRENCY="8") == "worker 8\n"
    assert run("echo", "web") == "web\n"  # not a process name: runs as given
    assert run("echo") == "\n"
    assert "/app/Procfile" in _generated_script("/usr/local/bin/opsportal-entrypoint")


def test_the_healthcheck_script_asks_the_health_endpoint_with_the_ops_token():
    assert _instruction("HEALTHCHECK").endswith('CMD ["/usr/local/bin/opsportal-healthcheck"]')
    script = _generated_script("/usr/local/bin/opsportal-healthcheck")
    compile(script, "opsportal-healthcheck", "exec")
    path = re.search(r'"http://127\.0\.0\.1:%s(/[^"]*)"', script).group(1)
    assert resolve(path).func.view_class is PlanningsHealthApi
    assert f'"{OPS_TOKEN_HEADER}"' in script and '"OPS_TOKEN"' in script and '"DJANGO_ALLOWED_HOSTS"' in script


@pytest.mark.django_db
def test_the_healthcheck_request_is_answered_over_plain_http_in_production(client, settings):
    # What the script sends: plain HTTP on loopback, Host from DJANGO_ALLOWED_HOSTS, the token.
    settings.IS_PRODUCTION, settings.OPS_TOKEN = True, "prod-token"
    settings.ALLOWED_HOSTS, settings.SECURE_SSL_REDIRECT = ["ops.example.com"], True
    headers = {"HTTP_HOST": "ops.example.com", "REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/admin/login/", **headers).status_code == 301  # the redirect is on
    assert client.get("/api/ops/plannings", **headers, HTTP_X_OPS_TOKEN="prod-token").status_code == 200
    assert client.get("/api/ops/plannings", **headers).status_code == 404  # and the token is needed


def test_the_image_is_production_and_not_root():
    assert "DJANGO_ENV=production" in _instruction("ENV")
    user = _instruction("USER")
    assert user not in {"root", "0"}
    assert "useradd --system --uid 10001 --user-group --home-dir /var/lib/opsportal" in DOCKERFILE
    assert "collectstatic --noinput" in DOCKERFILE and "check --deploy" in DOCKERFILE
    assert "-r /tmp/requirements/production.txt" in DOCKERFILE


def test_the_image_installs_production_txt_alone_with_hashes_as_make_test_does():
    installs = [rest for key, rest in _instructions() if key == "RUN" and "pip install" in rest]
    assert len(installs) == 1, installs
    pip = installs[0].split("pip install", 1)[1].split("&&", 1)[0].split()
    assert "--require-hashes" in pip
    copied_to = next(
        rest.split()[1] for key, rest in _instructions() if key == "COPY" and rest.startswith("requirements/")
    )
    assert [word for word in pip if not word.startswith("--")] == ["-r", f"{copied_to}production.txt"]
    # production.txt stands alone: no -r or -c of another file (its pins and hashes: tests/production/).
    production = (ROOT / "requirements" / "production.txt").read_text()
    assert not re.search(r"^\s*-[rc]\s", production, flags=re.M)
    # The production-install check of `make test` builds its venv the same way.
    builder = (ROOT / "tests" / "production" / "prod_venv.py").read_text()
    assert '"--require-hashes"' in builder and 'REQUIREMENTS = ROOT / "requirements" / "production.txt"' in builder


def test_the_build_context_keeps_local_state_out_and_the_app_in():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    included = set(exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile"))
    for needed in ("Procfile", "manage.py", "requirements/production.txt", "requirements/base.txt",
                   "opsportal/settings.py", "plannings/web/api.py", "walletops/web/api.py", "templates",
                   "README.md", "docs/configuration.md"):  # fmt: skip
        assert needed in included, needed
    for kept_out in (".venv", "var", ".git", "tests", ".pytest_cache", "control", ".kamal/secrets.example",
                     "docs/screenshots"):  # fmt: skip
        assert not any(path == kept_out or path.startswith(kept_out + "/") for path in included), kept_out
