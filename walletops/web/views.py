"""The Containers pages of the portal: list per env, one container, its logs, its health check, a restart.

Thin views over the same modules as the REST API (``containers``, ``services``,
``params``): the same validation, the same Docker calls, the same audit trail.
Outages and bad input become a message on the page with the API's status code.
"""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from opsportal.api.errors import OpsError
from opsportal.audit.selectors import audit_events_on
from opsportal.lib.actors import Actor
from opsportal.lib.pages import render_page
from walletops import containers, logs, services
from walletops.deploys import drift, timeline
from walletops.deploys.formats import held_for
from walletops.exceptions import HealthCheckRefused, RestartRefused, WalletOpsError
from walletops.tokens import HEALTH_CHECK_PERMISSION, RESTART_PERMISSION
from walletops.web import params, streams
from walletops.web.deploys import DeploysQuery
from walletops.web.errors import error_of

AUDIT_ROWS = 20


def _query(request) -> params.ContainersQuery:
    return params.validated(params.ContainersQuery, request.GET)


def _scope(query: params.ContainersQuery) -> dict:
    """The list's toggles, carried from page to page so a container is looked up where it was listed."""
    data = query.validated_data
    scope = {"include_accessories": "1" if data["include_accessories"] else "0"}
    if data.get("env"):
        scope["env"] = data["env"]
    return scope


def _uptime(view: dict) -> str:
    if view["status"] != "running" or not view.get("started_at"):
        return ""
    started = datetime.fromisoformat(view["started_at"].replace("Z", "+00:00"))
    seconds = int((timezone.now() - started).total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m {rest % 60}s"


# What a page catches: bad input (the web layer's errors) and the domain's failures, shown with the API's status.
FAILURES = (OpsError, WalletOpsError)


def _failed(request, exc: OpsError | WalletOpsError, *, template: str, title: str, context: dict | None = None):
    status, code, detail = error_of(exc)
    return render_page(request, template, {"error": f"{code}: {detail}", **(context or {})}, title=title, status=status)


def containers_page(request):
    title = "Containers"
    try:
        query = _query(request)
        views, missing = containers.containers_list(
            envs=query.envs(),
            include_accessories=query.validated_data["include_accessories"],
            include_stats=query.validated_data["include_stats"],
        )
    except FAILURES as exc:
        return _failed(request, exc, template="walletops/containers.html", title=title)
    data = query.validated_data
    return render_page(
        request,
        "walletops/containers.html",
        {
            "containers": [{**view, "uptime": _uptime(view)} for view in views],
            "missing_hosts": missing,
            "envs": query.envs(),
            "all_envs": settings.WALLETOPS_ENVS,
            "env": data.get("env") or "",
            "include_accessories": data["include_accessories"],
            "include_stats": data["include_stats"],
            "scope": urlencode(_scope(query)),
        },
        title=title,
    )


def _found(request, name: str):
    query = _query(request)
    found = containers.container_find(
        name=params.container_name(name),
        envs=query.envs(),
        include_accessories=query.validated_data["include_accessories"],
    )
    return found, query


def container_page(request, name: str):
    try:
        found, query = _found(request, name)
        detail = containers.container_detail(found)
    except FAILURES as exc:
        return _failed(request, exc, template="walletops/container.html", title=name)
    return render_page(
        request,
        "walletops/container.html",
        {
            "container": {**detail, "uptime": _uptime(detail)},
            "scope": urlencode(_scope(query)),
            "audit": audit_events_on(
                target_type="container",
                target=found.name,
                actions=(services.ACTION_RESTART, services.ACTION_HEALTH_CHECK),
                limit=AUDIT_ROWS,
            ),
            "can_restart": request.user.has_perm(RESTART_PERMISSION),
            "can_check": request.user.has_perm(HEALTH_CHECK_PERMISSION),
        },
        title=f"Container {found.name}",
    )


RANGES = [("", "tail only"), ("15m", "last 15 min"), ("1h", "last hour"), ("24h", "last 24 h"), ("custom", "custom")]
PAGE_LINE_CAP = 5000  # lines the page keeps while following (the oldest go first)


class LogsForm(forms.Form):
    """The form's fields; their values are validated by ``params.LogsQuery``, as the API's are."""

    tail = forms.IntegerField(required=False, min_value=0, max_value=params.MAX_TAIL, initial=100)
    range = forms.ChoiceField(required=False, choices=RANGES, label="Time")
    since = forms.CharField(required=False, help_text="ISO-8601 (UTC) or an age: 30s, 15m, 2h, 1d")
    until = forms.CharField(required=False, help_text="ISO-8601 (UTC) or an age")
    grep = forms.CharField(required=False, help_text="text, or /regular expression/ in RE2 syntax")


class MergedLogsForm(LogsForm):
    env = forms.ChoiceField(required=False, choices=[])
    role = forms.CharField(required=False, help_text="every container of this role")
    containers = forms.CharField(required=False, help_text="or names, comma-separated")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["env"].choices = [(env, env) for env in settings.WALLETOPS_ENVS]
        self.order_fields(["env", "role", "containers", "tail", "range", "since", "until", "grep"])


def _logs_params(request) -> dict:
    """The page's query as the API's: the picker's range becomes ``since`` (custom keeps since/until),
    and the page's own switches (``format=text``, ``range``) are not the API's."""
    data = {k: v for k, v in request.GET.items() if v != "" and k not in ("format", "range", "follow")}
    chosen = request.GET.get("range") or ""
    if chosen and chosen != "custom":
        data["since"] = chosen
        data.pop("until", None)
    return data


def _stream_query(request) -> str:
    """The stream's query: the page's, less what a live follow has no use for."""
    data = _logs_params(request)
    data.pop("until", None)
    return urlencode(data)


def _logs_text(request, lines: list[dict], *, filename: str, labelled: bool) -> HttpResponse:
    """Download: the lines as shown, as text."""
    response = HttpResponse(logs.lines_text(lines, labelled=labelled), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _logs_context(request, result: dict, *, merged: bool, stream_url: str) -> dict:
    hosts = sorted({c["host"] for c in result["containers"]})
    # The page's eight source colours, by container and host: Kamal names a role's containers alike on every host.
    colour = {(c["name"], c["host"]): i % 8 for i, c in enumerate(result["containers"])}
    result = {
        **result,
        "containers": [{**c, "src": colour[c["name"], c["host"]]} for c in result["containers"]],
        "lines": [{**line, "src": colour.get((line["container"], line["host"]), 0)} for line in result["lines"]],
    }
    return {
        "logs": result,
        "merged": merged,
        "stream_url": f"{stream_url}?{_stream_query(request)}",
        "download_query": urlencode({**_logs_params(request), "format": "text"}),
        "line_cap": PAGE_LINE_CAP,
        "max_bytes": settings.WALLETOPS_LOGS_MAX_BYTES,
        "hosts": hosts,
    }


def container_logs_page(request, name: str):
    form = LogsForm(request.GET or None, initial={"tail": 100})
    context = {"name": name, "form": form}
    try:
        found, query = _found(request, name)
        logs_query = params.validated(params.LogsQuery, _logs_params(request)).validated_data
        options = params.logs_options(logs_query)
        source = logs.source_of(found)
        gone = streams.client_gone_check(request)
        result = logs.merged_logs([source], env=found.membership.env, **options, client_gone=gone)
    except FAILURES as exc:
        return _failed(request, exc, template="walletops/logs.html", title=f"Logs of {name}", context=context)
    if request.GET.get("format") == "text":
        return _logs_text(request, result["lines"], filename=f"{found.name}.log", labelled=False)
    stream_url = reverse("admin:ops-container-logs-stream", args=[found.name])
    context.update(
        scope=urlencode(_scope(query)), **_logs_context(request, result, merged=False, stream_url=stream_url)
    )
    return render_page(request, "walletops/logs.html", context, title=f"Logs of {found.name}")


def merged_logs_page(request):
    form = MergedLogsForm(request.GET or None, initial={"tail": 100})
    context = {"form": form, "merged": True}
    title = "Logs of a role"
    if not request.GET.get("role") and not request.GET.get("containers"):
        return render_page(request, "walletops/logs.html", context, title=title)
    try:
        query = params.validated(params.MergedLogsQuery, _logs_params(request)).validated_data
        sources = logs.sources_find(
            env=query["env"],
            role=query.get("role"),
            names=query.get("containers"),
            include_accessories=query["include_accessories"],
        )
        gone = streams.client_gone_check(request)
        result = logs.merged_logs(sources, env=query["env"], **params.logs_options(query), client_gone=gone)
    except FAILURES as exc:
        return _failed(request, exc, template="walletops/logs.html", title=title, context=context)
    what = query.get("role") or ", ".join(query.get("containers") or [])
    if request.GET.get("format") == "text":
        return _logs_text(request, result["lines"], filename=f"{query['env']}-{what}.log", labelled=True)
    stream_url = reverse("admin:ops-logs-stream")
    context.update(_logs_context(request, result, merged=True, stream_url=stream_url))
    context["missing_hosts"] = sources.engines_down
    return render_page(request, "walletops/logs.html", context, title=f"Logs of {what} in {query['env']}")


def _stream_failed(exc) -> JsonResponse:
    status, code, detail = error_of(exc)
    return JsonResponse({"code": code, "detail": detail}, status=status)


def container_logs_stream(request, name: str):
    """The page's live follow (EventSource, the session's user): as the API's ``follow=true``."""
    try:
        found, _query = _found(request, name)
        query = params.validated(params.LogsQuery, _logs_params(request)).validated_data
        return streams.event_stream_response(
            request,
            [logs.source_of(found)],
            query=query,
            access_refusal=streams.user_access_refusal(request.user),
            page=streams.page_id(request),
        )
    except FAILURES as exc:
        return _stream_failed(exc)


def merged_logs_stream(request):
    try:
        query = params.validated(params.MergedLogsQuery, _logs_params(request)).validated_data
        sources = logs.sources_find(
            env=query["env"],
            role=query.get("role"),
            names=query.get("containers"),
            include_accessories=query["include_accessories"],
        )
        return streams.event_stream_response(
            request,
            sources,
            query=query,
            access_refusal=streams.user_access_refusal(request.user),
            page=streams.page_id(request),
        )
    except FAILURES as exc:
        return _stream_failed(exc)


def container_health_check_page(request, name: str):
    # POST: running the check executes a command in the container, so it is an action, not a link.
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        name = params.container_name(name)
        query = _query(request)
        result = services.container_health_check_run(
            name=name,
            envs=query.envs(),
            include_accessories=query.validated_data["include_accessories"],
            actor=Actor.portal(request.user),
        )
    except HealthCheckRefused as exc:
        raise PermissionDenied(exc.detail) from None  # audited as refused by the service
    except FAILURES as exc:
        return _failed(
            request,
            exc,
            template="walletops/health_check.html",
            title=f"Health check of {name}",
            context={"name": name},
        )
    return render_page(
        request,
        "walletops/health_check.html",
        {"name": result["name"], "result": result, "scope": urlencode(_scope(query))},
        title=f"Health check of {result['name']}",
    )


class RestartForm(forms.Form):
    confirm_name = forms.CharField(label="Type the container's name to confirm", max_length=255)
    timeout = forms.IntegerField(label="Seconds to wait before killing it", min_value=0, max_value=300, initial=10)

    def __init__(self, *args, name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = name

    def clean_confirm_name(self):
        typed = self.cleaned_data["confirm_name"].strip()
        if typed != self.name:
            raise forms.ValidationError(f"That is not {self.name}; nothing was restarted.")
        return typed


def container_restart_page(request, name: str):
    template, title = "walletops/restart.html", f"Restart {name}"
    can_restart = request.user.has_perm(RESTART_PERMISSION)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    try:
        name = params.container_name(name)
        query = _query(request)
    except FAILURES as exc:  # the page still names the container it was asked about
        return _failed(request, exc, template=template, title=title, context={"name": name})
    scope = urlencode(_scope(query))
    if request.method == "GET":
        if not can_restart:
            raise PermissionDenied("restarting containers needs the permission walletops.restart_container")
        form = RestartForm(name=name)
        return render_page(request, template, {"name": name, "form": form, "scope": scope}, title=title)
    form = RestartForm(request.POST, name=name)
    if can_restart and not form.is_valid():
        return render_page(request, template, {"name": name, "form": form, "scope": scope}, title=title, status=400)
    try:
        services.container_restart(
            name=name,
            envs=query.envs(),
            include_accessories=query.validated_data["include_accessories"],
            timeout=form.cleaned_data["timeout"] if can_restart else 0,
            actor=Actor.portal(request.user),
        )
    except RestartRefused as exc:
        if not can_restart:
            raise PermissionDenied(exc.detail) from None  # audited as refused by the service
        return _failed(request, exc, template=template, title=title, context={"name": name, "form": form})
    except FAILURES as exc:
        return _failed(request, exc, template=template, title=title, context={"name": name, "form": form})
    messages.success(request, f"{name} restarted; the audit row is below.")
    return redirect(f"{reverse('admin:ops-container', args=[name])}?{scope}")


def deploys_page(request):
    """The Deploys page: the lock, drift per role, the latest deploys and one page of the timeline."""
    title = "Deploys"
    data = {key: value for key, value in request.GET.items() if value != ""}
    data.setdefault("destination", settings.WALLETOPS_ENVS[-1] if settings.WALLETOPS_ENVS else "")
    context = {"destinations": settings.WALLETOPS_ENVS, "run_dirs": bool(settings.WALLETOPS_KAMAL_RUN_DIRS)}
    try:
        query = params.validated(DeploysQuery, data).validated_data
    except OpsError as exc:
        return _failed(
            request, exc, template="walletops/deploys.html", title=title, context={**context, "filters": data}
        )
    filters = timeline.Filters(
        service=settings.WALLETOPS_SERVICE, destination=query["destination"], host=query["host"], role=query["role"],
        performer=query["performer"], since=query.get("since"), until=query.get("until"),
    )  # fmt: skip
    report = timeline.deploys_report(filters, cursor=query.get("cursor"), limit=query["limit"])
    for lock in report["locks"]:
        lock["age"] = held_for(lock["age_seconds"])
    following = {**data, "cursor": report["cursor"]} if report["cursor"] else {}
    return render_page(
        request,
        "walletops/deploys.html",
        {
            **context,
            "filters": query,
            "report": report,
            "next_query": urlencode(following),
            "drift": drift.drift_report(service=settings.WALLETOPS_SERVICE, destination=query["destination"]),
        },  # fmt: skip
        title=title,
    )
