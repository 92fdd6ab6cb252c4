"""``GET /up``: the process is serving, answered before anything that could refuse the request.

kamal-proxy decides whether a new web container may take traffic by asking a path
with ``Host: <container id>:<port>``, over plain HTTP, with no credentials. The host
check (ALLOWED_HOSTS), the HTTPS redirect and every endpoint's auth would refuse that,
so this middleware sits first and answers ``/up`` itself, as Rails' ``/up`` does. It
says only that this process serves requests, nothing about the database or the jobs:
those are ``/api/ops/plannings`` and ``/metrics``, which need their credentials.
"""

from __future__ import annotations

from django.http import HttpResponse

PATH = "/up"


class LivenessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == PATH and request.method in ("GET", "HEAD"):
            return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")
        return self.get_response(request)
