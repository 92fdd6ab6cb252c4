"""No secrets on error pages: the filter and reporter behind Django's debug page and error e-mails.

Outside production DEBUG is on, and Django's own filter hides only the settings and
request.META keys whose *name* looks secret (TOKEN, KEY, SECRET, PASS ...). A
``DATABASE_URL=postgres://user:password@host/db`` or a broker URL would show in clear,
in the settings and, under ``runserver`` (which copies the whole environment into
request.META), in META. Two rules are added on top of Django's:

* a variable that may hold a credential (``opsportal.lib.env.holds_secret``: any ``*_URL``,
  ``*_DSN``, ``CELERY_RESULT_BACKEND``, ``DOCKER_HOST``, the Docker engines of
  ``WALLETOPS_DOCKER_HOSTS``, tokens, keys, passwords) is masked whole: in META by its
  name, in the settings when the portal read it from the environment;
* everywhere else (settings, META, the frames' local variables, the exception's message)
  the password of any URL with credentials (``scheme://user:password@``) and the value of
  a query parameter named like a secret (``?token=...``) are masked.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.functional import Promise
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from opsportal.lib import env

SUBSTITUTE = SafeExceptionReporterFilter.cleansed_substitute

# scheme://user:password@ : the password runs to the last "@" before the path (a raw "@" in it is masked too).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s/:@'\"]*:)(?P<password>[^\s/'\"]*)@", re.I)
# ?token=... &password=... &access_key=... (feed URLs can carry keys in their query).
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;][^=&;\s'\"#]*(?:pass|token|secret|key|auth|sig|credential)[^=&;\s'\"#]*=)(?P<value>[^&;\s'\"#]*)",
    re.I,
)


def mask_credentials(text: str) -> str:
    """``text`` with the password of every URL with credentials, and secret query values, masked."""
    text = _URL_PASSWORD.sub(lambda match: f"{match['head']}{SUBSTITUTE}@", text)
    return _QUERY_SECRET.sub(lambda match: match["head"] + (SUBSTITUTE if match["value"] else ""), text)


def _mask_string(value: str | Promise) -> str:
    # Lazy strings (django-axes' settings are) are read, then masked.
    try:
        return mask_credentials(str(value))
    except Exception:  # an error page must not fail: a value that cannot be read is not shown
        return SUBSTITUTE


def _mask_value(value: Any) -> Any:
    """Strings masked with ``mask_credentials``, inside dicts, lists and tuples too; anything else as it is."""
    if isinstance(value, str | Promise):
        return _mask_string(value)
    if isinstance(value, dict):
        return {key: _mask_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_mask_value(item) for item in value)
    return value


class PortalExceptionReporterFilter(SafeExceptionReporterFilter):
    """``DEFAULT_EXCEPTION_REPORTER_FILTER``: Django's filter, plus whole secret variables and URL credentials."""

    def cleanse_setting(self, key, value):
        # Django recurses into dicts, lists and tuples through this method: leaves come back here.
        cleansed = super().cleanse_setting(key, value)
        return _mask_string(cleansed) if isinstance(cleansed, str | Promise) else cleansed

    def get_safe_settings(self):
        safe = super().get_safe_settings()
        for name in safe:
            if name in env.VARIABLES_READ and env.holds_secret(name):
                safe[name] = self.cleansed_substitute
        return safe

    def get_safe_request_meta(self, request):
        # Under runserver, META holds the server's whole environment: mask by the variable's name.
        return {
            name: self.cleansed_substitute if isinstance(name, str) and env.holds_secret(name) else value
            for name, value in super().get_safe_request_meta(request).items()
        }

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, _mask_value(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]


class PortalExceptionReporter(ExceptionReporter):
    """``DEFAULT_EXCEPTION_REPORTER``: also masks URL credentials in the exception's message and the frames'
    rendered variables (an object's repr can quote a URL the filter cannot see)."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        for frame in data.get("frames", []):
            if "vars" in frame:
                frame["vars"] = [(name, mask_credentials(str(value))) for name, value in frame["vars"]]
            if frame.get("exc_cause") is not None:
                frame["exc_cause"] = mask_credentials(str(frame["exc_cause"]))
        for key in ("exception_value", "exception_notes", "request_insecure_uri"):
            if key in data:
                data[key] = mask_credentials(data[key])
        return data
