"""Typed readers for environment variables: the only place that parses them.

Two policies live side by side, on purpose:

* Portal settings (``DJANGO_*``, ``DATABASE_URL`` ...) are strict: a value that
  cannot be parsed stops start-up with a message naming the variable.
* The plannings variables keep upstream PlanningSup's documented leniency: an
  unset, non-numeric or negative number silently falls back to its default, so
  an existing PlanningSup ``.env`` behaves the same here.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Every variable the readers below have read, and those a reader knows may hold a credential. The
# error pages (opsportal.reporting) mask the settings read from a secret variable, whole.
VARIABLES_READ: set[str] = set()
SECRET_VARIABLES: set[str] = set()
# A name that says its value may carry a credential: a URL (scheme://user:password@host), a DSN, a
# result backend, a Docker engine, a token, a key, a password.
_SECRET_NAME = re.compile(
    r"_URLS?$|_DSN$|^CELERY_RESULT_BACKEND$|^DOCKER_HOST$|TOKEN|SECRET|PASS|_KEY$|^KEY|CREDENTIAL|AUTH", re.I
)


def holds_secret(name: str) -> bool:
    """Whether the variable ``name`` may hold a secret (by its name, or because its reader said so)."""
    return name in SECRET_VARIABLES or bool(_SECRET_NAME.search(name))


def _raw(name: str, *, secret: bool = False) -> str | None:
    VARIABLES_READ.add(name)
    if secret:
        SECRET_VARIABLES.add(name)
    return os.environ.get(name)


def portal_str(name: str, default: str) -> str:
    """A string setting; an empty value counts as unset (as in a copied .env.example)."""
    raw = (_raw(name) or "").strip()
    return raw or default


def portal_list(name: str, default: list[str]) -> list[str]:
    raw = (_raw(name) or "").strip()
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def strict_networks(name: str, default: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated networks (``10.0.0.0/8``) or addresses (``127.0.0.1``, a /32); a bad one stops start-up."""
    networks = []
    for item in portal_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a network (10.0.0.0/8) or an address.") from None
    return networks


def database_config(name: str, default_url: str) -> dict:
    _raw(name, secret=True)  # user:password@ in clear
    url = portal_str(name, default_url)
    try:
        return env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for a malformed URL
        raise ImproperlyConfigured(f"{name} is not a usable database URL: {exc}") from None


def strict_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}.")


def strict_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _raw(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def strict_fraction(name: str, default: float) -> float:
    """A number between 0 and 1 (a threshold)."""
    raw = _raw(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not 0 <= value <= 1:
        raise ImproperlyConfigured(f"{name}={value} must be between 0 and 1.")
    return value


def upstream_int(name: str, default: int) -> int:
    """An upstream number: unset, non-numeric or negative falls back to the default."""
    raw = (_raw(name) or "").strip()
    try:
        value = int(raw)
    except ValueError:
        return default
    return default if value < 0 else value


def upstream_flag(name: str, default: bool) -> bool:
    """Upstream's boolean: true/yes/1 (any case) is true, any other value false."""
    raw = _raw(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"true", "yes", "1"}


def upstream_str(name: str, default: str) -> str:
    raw = _raw(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def docker_hosts(name: str, envs: list[str]) -> dict[str, list[str]]:
    """``staging=unix:///a|ssh://b;production=tcp://c`` -> {env: [engine URL, ...]}."""
    raw = (_raw(name, secret=True) or "").strip()  # engine URLs can carry user names and passwords
    engines: dict[str, list[str]] = {}
    if not raw:
        return engines
    for part in raw.split(";"):
        if not part.strip():
            continue
        env_name, separator, urls = part.partition("=")
        env_name = env_name.strip()
        if not separator or env_name not in envs:
            raise ImproperlyConfigured(f"{name}: {part.strip()!r} must be ENV=URL|URL with ENV one of {envs}")
        hosts = [url.strip() for url in urls.split("|") if url.strip()]
        for url in hosts:
            if not url.startswith(("unix://", "tcp://", "ssh://", "http://", "https://")):
                raise ImproperlyConfigured(f"{name}: {url!r} is not a unix://, tcp:// or ssh:// engine URL")
        if not hosts:
            raise ImproperlyConfigured(f"{name}: no engine URL for {env_name}")
        engines[env_name] = hosts
    return engines


def named_paths(name: str) -> dict[str, Path]:
    """``web-1=/mnt/kamal/web-1,web-2=/mnt/kamal/web-2`` -> {name: absolute path}; empty when unset."""
    raw = (_raw(name) or "").strip()
    named: dict[str, Path] = {}
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        label, separator, folder = (text.strip() for text in part.partition("="))
        if not separator or not label or not folder.startswith("/"):
            raise ImproperlyConfigured(f"{name}: {part!r} must be NAME=/absolute/folder")
        if label in named:
            raise ImproperlyConfigured(f"{name}: {label!r} is named twice")
        named[label] = Path(folder)
    return named
