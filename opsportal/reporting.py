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

And the request itself, which Django masks only outside DEBUG and only for views marked
``sensitive_post_parameters``: a GET or POST parameter named like a secret (``token``,
``password``, ``csrfmiddlewaretoken``, ``api_key``...), those parameters in ``QUERY_STRING``
and every URL-like META value (``RAW_URI``, ``HTTP_REFERER``), the CSRF cookie that
``CsrfViewMiddleware`` copies into ``META["CSRF_COOKIE"]``, and the session and CSRF cookies.
``Authorization``, ``X-Ops-Token`` and ``Cookie`` are masked by Django by their names.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
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


# A request parameter, cookie or META key named like one (the query pattern's names, plus the CSRF ones).
_SECRET_PARAMETER = re.compile(r"pass|token|secret|key|auth|sig|credential|csrf", re.I)


def secret_parameter(name: str) -> bool:
    return isinstance(name, str) and bool(_SECRET_PARAMETER.search(name))


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
        return {name: self._meta_value(name, value) for name, value in super().get_safe_request_meta(request).items()}

    def _meta_value(self, name, value):
        if not isinstance(name, str) or env.holds_secret(name) or name == "CSRF_COOKIE":
            return self.cleansed_substitute if isinstance(name, str) else value
        if not isinstance(value, str):
            return value
        if name == "QUERY_STRING":  # no "?" before its first parameter
            return mask_credentials(f"?{value}")[1:]
        return mask_credentials(value)

    def get_safe_cookies(self, request):
        # Django masks the session cookie and names like its settings' (``csrftoken`` by TOKEN);
        # a renamed CSRF cookie too.
        return {
            name: self.cleansed_substitute if name == settings.CSRF_COOKIE_NAME or secret_parameter(name) else value
            for name, value in super().get_safe_cookies(request).items()
        }

    def get_post_parameters(self, request):
        return self._masked_parameters(super().get_post_parameters(request))

    def get_safe_query_parameters(self, request):
        """``request.GET`` with the values of parameters named like a secret masked (the page's GET table)."""
        return self._masked_parameters(request.GET if request is not None else {})

    def _masked_parameters(self, parameters):
        secret = [name for name in parameters if secret_parameter(name)]
        if not secret:
            return parameters
        masked = parameters.copy()  # a QueryDict's copy is mutable
        for name in secret:
            masked[name] = self.cleansed_substitute
        return masked

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, _mask_value(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]


class PortalExceptionReporter(ExceptionReporter):
    """``DEFAULT_EXCEPTION_REPORTER``: also masks URL credentials in the exception's message and the frames'
    rendered variables (an object's repr can quote a URL the filter cannot see)."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        if self.request is not None:  # Django lists request.GET as it is, whatever its filter says
            data["request_GET_items"] = self.filter.get_safe_query_parameters(self.request).items()
        for frame in data.get("frames", []):
            if "vars" in frame:
                frame["vars"] = [(name, mask_credentials(str(value))) for name, value in frame["vars"]]
            if frame.get("exc_cause") is not None:
                frame["exc_cause"] = mask_credentials(str(frame["exc_cause"]))
        for key in ("exception_value", "exception_notes", "request_insecure_uri"):
            if key in data:
                data[key] = mask_credentials(data[key])
        return data
