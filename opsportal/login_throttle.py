"""Login throttling with django-axes: the client's address behind kamal-proxy, and ``authenticate()`` without a request.

Failed logins are counted per user name and per client address, each on its own
(``AXES_LOCKOUT_PARAMETERS``); past ``OPSPORTAL_LOGIN_FAILURE_LIMIT`` within
``OPSPORTAL_LOGIN_COOLOFF_MINUTES``, that user name, and every login from that address, is
refused, even with the right password, until the cool-off ends or ``manage.py axes_reset``
(``axes_reset_username``, ``axes_reset_ip``) clears it.
"""

from __future__ import annotations

import ipaddress

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The address failed logins are counted against (``AXES_CLIENT_IP_CALLABLE``).

    Behind ``OPSPORTAL_TRUSTED_PROXIES`` reverse proxies (production: 1, kamal-proxy) it is the
    address the outermost of them saw: that many entries from the right of X-Forwarded-For, the
    entries the proxies appended; whatever a client put further left is ignored, so a forged
    header cannot move its failures to someone else's address. The header counts only on a
    connection from ``OPSPORTAL_TRUSTED_PROXY_NETWORKS`` (the proxy's): a client that reaches
    gunicorn directly, rotating the header at each try, is still counted against its own address.
    Without proxies, or without the header, it is the connection's own address.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.OPSPORTAL_TRUSTED_PROXIES
    if proxies <= 0 or not _from_trusted_proxy(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:  # not an address: a misconfigured proxy; count against the connection instead
        return remote


def _from_trusted_proxy(remote: str | None) -> bool:
    try:
        peer = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if peer.version == 6 and peer.ipv4_mapped is not None:  # ::ffff:10.0.0.2 on a dual-stack socket
        peer = peer.ipv4_mapped
    # Parsed at start-up (opsportal.lib.env.strict_networks); a string set elsewhere is read the same way.
    networks = (ipaddress.ip_network(net, strict=False) for net in settings.OPSPORTAL_TRUSTED_PROXY_NETWORKS)
    return any(peer in network for network in networks)


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check, first in ``AUTHENTICATION_BACKENDS``; it authenticates no one itself.

    Every login through the portal passes its request. Calls without one (Django's test
    ``Client.login``, a script) get a blank request, as axes' documentation suggests: a locked
    user name stays locked for them too, and they have no address to count.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        return super().authenticate(request if request is not None else HttpRequest(), username, password, **kwargs)


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None):
    """The lockout page (``AXES_LOCKOUT_CALLABLE``): the portal's admin look, why, for how long, how to unlock."""
    from axes.helpers import get_client_username, get_cool_off, get_failure_limit
    from django.contrib import admin
    from django.shortcuts import render

    cool_off = get_cool_off(request)
    minutes = round(cool_off.total_seconds() / 60) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "cooloff_minutes": minutes,
    }
    return render(request, "opsportal/login_locked.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
