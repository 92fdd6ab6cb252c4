"""Wallet ops REST: containers, their logs, health checks and restarts, hosts and deploy info, as thin views over
their modules, on the API kit (``opsportal.api``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from opsportal.api import idempotency
from opsportal.api.auth import HasToken, OwnerRefused
from opsportal.api.base import OpsApi
from opsportal.api.schema import errors_documented
from opsportal.lib.actors import Actor
from walletops import containers, deploy_info, hosts, logs, services
from walletops.web import params, streams
from walletops.web import serializers as shapes

MISSING_HOSTS_HEADER = "X-Docker-Unavailable"


class ContainersApi(OpsApi):
    @extend_schema(
        operation_id="containers_list",
        parameters=[params.ContainersQuery],
        responses={200: shapes.ContainerSerializer(many=True), **errors_documented(400, 503)},
    )
    def get(self, request):
        query = params.validated(params.ContainersQuery, request.query_params)
        views, missing = containers.containers_list(
            envs=query.envs(),
            include_accessories=query.validated_data["include_accessories"],
            include_stats=query.validated_data["include_stats"],
        )
        response = Response(views)
        if missing:  # some engines are down: the others still answer, and the header says which
            response[MISSING_HOSTS_HEADER] = ", ".join(missing)
        return response


def _found(request, name: str):
    query = params.validated(params.ContainersQuery, request.query_params)
    found = containers.container_find(
        name=params.container_name(name),
        envs=query.envs(),
        include_accessories=query.validated_data["include_accessories"],
    )
    return found


class ContainerDetailApi(OpsApi):
    @extend_schema(
        operation_id="container_detail",
        parameters=[params.ContainersQuery],
        responses={200: shapes.ContainerDetailSerializer, **errors_documented(400, 404, 503)},
    )
    def get(self, request, name: str):
        return Response(containers.container_detail(_found(request, name)))


class LogsTextRenderer(BaseRenderer):
    """``Accept: text/plain``: the log lines as raw text (errors as ``code: detail``)."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "lines" in data:
            text = "\n".join(f"{line['ts']} {line['text']}" if line["ts"] else line["text"] for line in data["lines"])
            return (text + "\n" if text else "").encode("utf-8")
        if isinstance(data, dict) and "code" in data:
            return f"{data['code']}: {data['detail']}\n".encode()
        return str(data).encode("utf-8")


class TextAwareResponse(Response):
    """DRF drops Content-Type from an empty body; an empty log is still ``text/plain``."""

    @property
    def rendered_content(self):
        content = super().rendered_content
        if not content and getattr(self, "accepted_renderer", None) is not None:
            self["Content-Type"] = f"{self.accepted_renderer.media_type}; charset={self.accepted_renderer.charset}"
        return content


class EventStreamRenderer(BaseRenderer):
    """``Accept: text/event-stream`` is acceptable (a live follow answers it); anything else it would
    render is an error, which ``LogsApi.finalize_response`` hands to JSON instead."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)


SSE_EVENT = {
    "type": "object",
    "description": "one Server-Sent Event",
    "properties": {
        "event": {"type": "string", "description": "absent (a line), source_end, engine_down, cut_short or end"},
        "id": {"type": "string", "description": "a line's time, nanoseconds: resume with Last-Event-ID"},
        "data": {"type": "string", "description": "JSON: {id, ts, container, host, text} for a line"},
        "retry": {"type": "integer"},
    },
}
EVENT_STREAM = OpenApiResponse(
    SSE_EVENT,
    description="With `follow=true`: Server-Sent Events. Each line is an event whose `id` is the line's time "
    "(nanoseconds, `2026-03-10T11:59:58.123456789Z`; send it back as `Last-Event-ID` to resume after it) and whose "
    "`data` is `{ts, container, host, text}`. Then `event: source_end` when a container's stream ends, "
    "`event: engine_down` naming an engine that went away, `event: cut_short` when `grep` spent its budget "
    "(`WALLETOPS_LOGS_GREP_MAX_MS` of searching or `WALLETOPS_LOGS_GREP_MAX_CHARS`, for the backlog and again for "
    "each batch of live lines) with `{reason, detail, searched_until, skipped, backlog}`: `skipped` lines of the "
    "batch were not searched; and a last `event: end` with `{reason, detail}` "
    "(`stopped`, `removed`, `engine_down`, `error`, `idle`, `max_duration`, `access_revoked`: the token was revoked "
    "or its owner lost the right, checked at each heartbeat). Comments (`: heartbeat`) keep it open. "
    "At most `WALLETOPS_LOG_STREAMS_PER_USER` streams per person (a token counts as its owner) and "
    "`WALLETOPS_LOG_STREAMS_TOTAL` per web process "
    "(429 `too_many_streams`).",
)


class LogsApi(OpsApi):
    renderer_classes = [JSONRenderer, LogsTextRenderer, EventStreamRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        # An error asked for as an event stream is answered in the error shape, as JSON.
        if isinstance(getattr(request, "accepted_renderer", None), EventStreamRenderer) and isinstance(
            response, Response
        ):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def follow(self, request, sources, query: dict):
        token = request.auth
        return streams.event_stream_response(
            request,
            sources,
            query=query,
            access_refusal=streams.token_access_refusal(token, self.required_scope),
        )


class ContainerLogsApi(LogsApi):
    @extend_schema(
        operation_id="container_logs",
        parameters=[params.LogsQuery],
        responses={
            200: shapes.LogsSerializer,
            (200, "text/event-stream"): EVENT_STREAM,
            **errors_documented(400, 404, 429, 503),
        },
        description="The newest lines within `WALLETOPS_LOGS_MAX_BYTES` of JSON (default 2 MiB); `truncated` "
        "says when lines were left out or cut. A `grep` stops when it has spent `WALLETOPS_LOGS_GREP_MAX_MS` "
        "(default 500) of searching or `WALLETOPS_LOGS_GREP_MAX_CHARS` characters, or when the client goes: the "
        "answer holds the matches found until then, `truncated` true and `cut_short` saying why and where it stopped. "
        "`Accept: text/plain` (or `?format=txt`) gets the same lines as text. "
        "`follow=true`: a live stream (`text/event-stream`) of the same lines, then each new one.",
    )
    def get(self, request, name: str):
        query = params.validated(params.LogsQuery, request.query_params).validated_data
        found = _found(request, name)
        if query["follow"]:
            return self.follow(request, [logs.source_of(found)], query)
        options = params.logs_options(query)
        return TextAwareResponse(
            containers.container_logs(found, **options, client_gone=streams.client_gone_check(request))
        )


class MergedLogsTextRenderer(LogsTextRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "lines" in data and "containers" in data:
            return logs.lines_text(data["lines"], labelled=True).encode("utf-8")
        return super().render(data, accepted_media_type, renderer_context)


class MergedLogsApi(LogsApi):
    renderer_classes = [JSONRenderer, MergedLogsTextRenderer, EventStreamRenderer]

    @extend_schema(
        operation_id="logs_merged",
        parameters=[params.MergedLogsQuery],
        responses={
            200: shapes.MergedLogsSerializer,
            (200, "text/event-stream"): EVENT_STREAM,
            **errors_documented(400, 404, 429, 503),
        },
        description="Every container of a `role` (or the `containers` named) in one `env`, on all its engines, "
        "merged by time: each line labelled with its container and host, counts per container (`matched` in the "
        "lines read, `shown`). `since`, `until`, `grep` and `tail` as for one container (`tail` counts merged "
        "lines). `follow=true` streams the merged view live.",
    )
    def get(self, request):
        query = params.validated(params.MergedLogsQuery, request.query_params).validated_data
        sources = logs.sources_find(
            env=query["env"],
            role=query.get("role"),
            names=query.get("containers"),
            include_accessories=query["include_accessories"],
        )
        if query["follow"]:
            return self.follow(request, sources, query)
        options = params.logs_options(query)
        response = TextAwareResponse(
            logs.merged_logs(sources, env=query["env"], **options, client_gone=streams.client_gone_check(request))
        )
        if sources.engines_down:  # their containers are missing from the view: the header says which
            response[MISSING_HOSTS_HEADER] = ", ".join(sources.engines_down)
        return response


class ContainerHealthCheckApi(OpsApi):
    # Any valid token reaches the view: the service checks the scopes and the owner's rights and audits refusals.
    permission_classes = [HasToken]

    @extend_schema(
        operation_id="container_health_check",
        parameters=[params.ContainersQuery],
        responses={200: shapes.HealthCheckSerializer, **errors_documented(400, 404, 409, 503)},
        description="Runs the container's own HEALTHCHECK command now; every run is in the audit trail. The token "
        "needs the `read` and `containers:check` scopes, and its owner `walletops.run_health_check` "
        "(403 otherwise, audited).",
    )
    def get(self, request, name: str):
        name = params.container_name(name)
        query = params.validated(params.ContainersQuery, request.query_params)
        return Response(
            services.container_health_check_run(
                name=name,
                envs=query.envs(),
                include_accessories=query.validated_data["include_accessories"],
                actor=Actor.api(request.auth),
            )
        )


class ContainerRestartApi(OpsApi):
    # Any valid token reaches the view: the service checks the scopes (``read`` too, since the answer is
    # the container's view) and the owner's rights, so that every refusal is audited.
    permission_classes = [HasToken]

    @extend_schema(
        operation_id="container_restart",
        parameters=[params.ContainersQuery, idempotency.PARAMETER],
        request=params.RestartBody,
        responses={200: shapes.ContainerDetailSerializer, **errors_documented(400, 404, 409, 413, 422, 429, 503)},
    )
    def post(self, request, name: str):
        name = params.container_name(name)
        query = params.validated(params.ContainersQuery, request.query_params)
        body = params.validated(params.RestartBody, request.data if isinstance(request.data, dict) else {})
        return Response(
            services.container_restart(
                name=name,
                envs=query.envs(),
                include_accessories=query.validated_data["include_accessories"],
                timeout=body.validated_data["timeout"],
                actor=Actor.api(request.auth),
            )
        )

    def handle_exception(self, exc):
        if isinstance(exc, OwnerRefused):  # a valid token of a deactivated owner: 401, and audited as refused
            token = exc.token
            throttled = services.restart_refused(
                name=str(self.kwargs.get("name", "")),
                env=self.request.query_params.get("env") or "",
                actor=token.owner.get_username() if token.owner else token.name,
                token=token,
                detail=exc.detail_text,
            )
            exc = throttled or exc
        return super().handle_exception(exc)


class HostsApi(OpsApi):
    @extend_schema(operation_id="hosts", responses={200: shapes.HostsSerializer, **errors_documented(503)})
    def get(self, request):
        return Response(hosts.hosts_report())


class DeployInfoApi(OpsApi):
    @extend_schema(
        operation_id="deploy_info", responses={200: shapes.DeployInfoSerializer, **errors_documented(404, 500)}
    )
    def get(self, request):
        return Response(deploy_info.deploy_info_read())
