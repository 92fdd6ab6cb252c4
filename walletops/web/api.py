"""Wallet ops REST: containers, queues, hosts, deploy info and /metrics, as thin views over their modules."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from opsportal.audit.selectors import audit_events_list
from opsportal.audit.services import Actor
from opsportal.lib.jsonlimits import JSONRefused, json_loads_bounded
from walletops import containers, deploy_info, hosts, logs, services
from walletops.models import ApiToken
from walletops.tokens import HEALTH_CHECK_PERMISSION, token_owner_lacks, token_use_refusal
from walletops.web import params, streams
from walletops.web import serializers as shapes
from walletops.web.auth import BearerTokenAuthentication, HasScope, HasToken, OwnerRefused
from walletops.web.errors import Forbidden, InvalidParam, RequestTooLarge, ops_exception_handler

MISSING_HOSTS_HEADER = "X-Docker-Unavailable"
ERROR = OpenApiResponse(shapes.ErrorSerializer, description="the wallet ops error shape")


def errors_documented(*statuses: int) -> dict:
    return {status: ERROR for status in (401, 403, *statuses)}


class OpsJSONParser(JSONParser):
    """DRF's JSON parser, bounded: a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413, one nested too deeply 400.

    DRF reads the request stream itself, so Django's own size check never runs for
    JSON bodies; and ``json`` raises ``RecursionError`` (not ``ValueError``) on
    100,000 ``[``, which DRF would let through as a 500 (``opsportal.lib.jsonlimits``).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"body: longer than {limit} bytes")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_bounded(raw.decode(encoding), parse_constant=self._refuse_constant)
        except JSONRefused as refused:
            raise InvalidParam("body", f"JSON {refused}") from None
        except (ValueError, LookupError) as exc:  # malformed JSON, bytes that are not text, an unknown charset
            raise InvalidParam("body", f"JSON parse error - {exc}") from None

    @staticmethod
    def _refuse_constant(name: str):
        # NaN and Infinity are not JSON (DRF's own parser refuses them too unless STRICT_JSON is off).
        raise ValueError(f"{name} is not valid JSON")


class OpsContentNegotiation(DefaultContentNegotiation):
    """An unknown ``?format=`` is 400 ``invalid_param`` naming it (DRF answers a bare 404)."""

    def filter_renderers(self, renderers, format):
        chosen = [renderer for renderer in renderers if renderer.format == format]
        if not chosen:
            raise InvalidParam("format", f"one of {', '.join(renderer.format for renderer in renderers)}")
        return chosen


class OpsApi(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScope]
    required_scope = ApiToken.SCOPE_READ
    parser_classes = [OpsJSONParser]
    content_negotiation_class = OpsContentNegotiation

    def get_exception_handler(self):
        return ops_exception_handler


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
            key=f"user:{token.owner_id}" if token.owner_id else f"token:{token.pk}",  # one person, one cap
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
        return TextAwareResponse(
            logs.merged_logs(sources, env=query["env"], **options, client_gone=streams.client_gone_check(request))
        )


def token_actor(token: ApiToken) -> Actor:
    """Who acts for the audit trail: the token's owner (a machine token under its own name), and the token."""
    return Actor.api(owner_name=token.owner.get_username() if token.owner else token.name, token_name=token.name)


class ContainerHealthCheckApi(OpsApi):
    @extend_schema(
        operation_id="container_health_check",
        parameters=[params.ContainersQuery],
        responses={200: shapes.HealthCheckSerializer, **errors_documented(400, 404, 409, 503)},
        description="Runs the container's own HEALTHCHECK command now; every run is in the audit trail. A token "
        "with an owner needs its owner to hold `walletops.run_health_check` (403 otherwise, audited).",
    )
    def get(self, request, name: str):
        name = params.container_name(name)
        query = params.validated(params.ContainersQuery, request.query_params)
        actor = token_actor(request.auth)
        if refusal := token_owner_lacks(request.auth, HEALTH_CHECK_PERMISSION):
            services.container_health_check_refused(name=name, actor=actor, detail=refusal)
            raise Forbidden(refusal)
        return Response(
            services.container_health_check_run(
                name=name,
                envs=query.envs(),
                include_accessories=query.validated_data["include_accessories"],
                actor=actor,
            )
        )


class ContainerRestartApi(OpsApi):
    # Any valid token reaches the view: the scopes (``read`` too, since the answer is the container's
    # view) and the owner's rights are checked here, so that every refusal is audited.
    permission_classes = [HasToken]
    required_scopes = (ApiToken.SCOPE_READ, ApiToken.SCOPE_RESTART)

    @extend_schema(
        operation_id="container_restart",
        parameters=[params.ContainersQuery],
        request=params.RestartBody,
        responses={200: shapes.ContainerDetailSerializer, **errors_documented(400, 404, 413, 429, 503)},
    )
    def post(self, request, name: str):
        name = params.container_name(name)
        query = params.validated(params.ContainersQuery, request.query_params)
        body = params.validated(params.RestartBody, request.data if isinstance(request.data, dict) else {})
        token = request.auth
        refusal = token_use_refusal(token, self.required_scopes)
        return Response(
            services.container_restart(
                name=name,
                envs=query.envs(),
                include_accessories=query.validated_data["include_accessories"],
                timeout=body.validated_data["timeout"],
                actor=token.owner.get_username() if token.owner else token.name,
                token=token,
                allowed=not refusal,
                refusal=refusal,
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


class AuditApi(OpsApi):
    @extend_schema(
        operation_id="audit_list",
        parameters=[params.AuditQuery],
        responses={200: shapes.AuditPageSerializer, **errors_documented(400)},
        description="The audit trail of every operator action (portal, API, command line), newest first. "
        "Page with `before`: each page's `next_before` (null on the last).",
    )
    def get(self, request):
        query = params.validated(params.AuditQuery, request.query_params).validated_data
        limit = query["limit"]
        filters = {
            key: query.get(key) for key in ("before", "since", "until", "action", "actor", "via", "outcome", "target")
        }
        events = audit_events_list(limit=limit + 1, **{k: v for k, v in filters.items() if v is not None})
        page = events[:limit]
        return Response(
            {
                "events": [_audit_json(event) for event in page],
                "next_before": page[-1].id if len(events) > limit else None,
            }
        )


def _audit_json(event) -> dict:
    return {
        "id": event.id,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "actor": event.actor,
        "via": event.via,
        "token_name": event.token_name,
        "action": event.action,
        "target_type": event.target_type,
        "targets": event.targets,
        "target_count": event.target_count,
        "changed": event.changed,
        "outcome": event.outcome,
        "detail": event.detail,
        "changes": event.changes,
        "prev_hash": event.prev_hash,
        "row_hash": event.row_hash,
    }
