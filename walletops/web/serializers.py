"""Response shapes of the wallet ops API, for its OpenAPI schema (``/api/schema/``)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class ContainerSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    env = serializers.CharField()
    role = serializers.CharField()
    accessory = serializers.BooleanField()
    status = serializers.CharField()
    health = serializers.CharField()
    version = serializers.CharField()
    commit_sha = serializers.CharField()
    restarts = serializers.IntegerField()
    host = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    image = serializers.CharField()
    ports = serializers.ListField(child=serializers.CharField())
    cpu_pct = serializers.FloatField(allow_null=True, required=False, help_text="only with include_stats=true")
    mem_pct = serializers.FloatField(allow_null=True, required=False, help_text="only with include_stats=true")


class MountSerializer(serializers.Serializer):
    type = serializers.CharField(allow_null=True)
    source = serializers.CharField(allow_null=True)
    destination = serializers.CharField(allow_null=True)
    rw = serializers.BooleanField(allow_null=True)


class HealthProbeSerializer(serializers.Serializer):
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    exit_code = serializers.IntegerField(allow_null=True)
    output = serializers.CharField()


class ContainerDetailSerializer(ContainerSerializer):
    labels = serializers.DictField(child=serializers.CharField())
    restart_policy = serializers.CharField()
    mounts = MountSerializer(many=True)
    health_log = HealthProbeSerializer(many=True)


class LogLineSerializer(serializers.Serializer):
    ts = serializers.DateTimeField(allow_null=True)
    text = serializers.CharField()


class CutShortSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=["grep_time_budget", "grep_byte_budget", "client_gone"],
        help_text="which budget grep spent: WALLETOPS_LOGS_GREP_MAX_MS of wall time, or "
        "WALLETOPS_LOGS_GREP_MAX_CHARS characters searched",
    )
    detail = serializers.CharField(help_text="the same in words, naming the setting")
    searched_until = serializers.CharField(
        allow_null=True,
        help_text="the time (nanoseconds) of the last line searched: the lines after it were not; ask again "
        "with since= it for the rest",
    )


class LogsSerializer(serializers.Serializer):
    name = serializers.CharField()
    lines = LogLineSerializer(many=True, help_text="oldest first: the newest lines within WALLETOPS_LOGS_MAX_BYTES")
    truncated = serializers.BooleanField(
        help_text="a line was cut at 16 KiB, more lines matched than tail, older lines were left out to keep "
        "the response within WALLETOPS_LOGS_MAX_BYTES (default 2 MiB) of JSON, or grep was cut short"
    )
    cut_short = CutShortSerializer(
        allow_null=True,
        help_text="null; or, when grep spent its budget (WALLETOPS_LOGS_GREP_MAX_MS, WALLETOPS_LOGS_GREP_MAX_CHARS), "
        "why and where the search stopped: lines holds the matches found until then",
    )


class MergedLogLineSerializer(LogLineSerializer):
    id = serializers.CharField(help_text="the line's exact time (nanoseconds): a live follow's Last-Event-ID")
    container = serializers.CharField()
    engine = serializers.CharField(help_text="the Docker engine the container runs on")
    host = serializers.CharField(help_text="deprecated, the same as engine (kept for one release)")


class MergedSourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    engine = serializers.CharField(help_text="the Docker engine the container runs on")
    host = serializers.CharField(help_text="deprecated, the same as engine (kept for one release)")
    role = serializers.CharField()
    matched = serializers.IntegerField(help_text="lines of this container that matched grep (all, without grep)")
    shown = serializers.IntegerField(help_text="of which in lines")
    error = serializers.CharField(help_text="empty, or why this container's lines are missing (its engine went away)")


class MergedLogsSerializer(serializers.Serializer):
    env = serializers.CharField()
    containers = MergedSourceSerializer(many=True)
    lines = MergedLogLineSerializer(
        many=True, help_text="oldest first, merged by time: the whole answer within WALLETOPS_LOGS_MAX_BYTES of JSON"
    )
    truncated = serializers.BooleanField()
    cut_short = CutShortSerializer(
        allow_null=True, help_text="as for one container: searched_until is where the first container stopped"
    )


class DockerHealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    failing_streak = serializers.IntegerField()
    log = serializers.ListField(child=serializers.DictField())


class HealthCheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["healthy", "unhealthy", "none"])
    exit_code = serializers.IntegerField(allow_null=True)
    output = serializers.CharField()
    duration_ms = serializers.IntegerField()
    checked_at = serializers.DateTimeField()
    docker_health = DockerHealthSerializer()


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["worker", "runner"])
    depth = serializers.IntegerField(allow_null=True)
    processed_per_sec = serializers.FloatField(allow_null=True)
    failures_last_hour = serializers.IntegerField(allow_null=True)


class QueueErrorSerializer(serializers.Serializer):
    queue = serializers.CharField()
    job_id = serializers.CharField()
    error = serializers.CharField()
    count = serializers.IntegerField()
    timestamp = serializers.DateTimeField()


class QueuesSerializer(serializers.Serializer):
    queues = QueueSerializer(many=True)
    errors = QueueErrorSerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField(), required=False, help_text="with partial=true")


class ThresholdsSerializer(serializers.Serializer):
    cpu = serializers.FloatField()
    mem = serializers.FloatField()


class HostSerializer(serializers.Serializer):
    name = serializers.CharField()
    instance = serializers.CharField()
    cpu_util = serializers.FloatField(allow_null=True)
    mem_util = serializers.FloatField(allow_null=True)
    alert = serializers.BooleanField()


class HostsSerializer(serializers.Serializer):
    thresholds = ThresholdsSerializer()
    hosts = HostSerializer(many=True)
    updated_at = serializers.DateTimeField()


class DeployInfoSerializer(serializers.Serializer):
    current_tag = serializers.CharField()
    previous_tag = serializers.CharField(allow_null=True)
    commit_sha = serializers.CharField()
    deployed_by = serializers.CharField()
    deployed_at = serializers.CharField()


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField(help_text="the user, or the token's owner (a machine token: its name)")
    via = serializers.ChoiceField(choices=["portal", "api", "cli"])
    token_name = serializers.CharField(help_text="the API token used; empty otherwise")
    action = serializers.CharField(help_text="e.g. container.restart, jobs.pause, token.revoke")
    target_type = serializers.CharField()
    targets = serializers.ListField(child=serializers.CharField(), help_text="the objects' ids (the first 100)")
    target_count = serializers.IntegerField()
    changed = serializers.IntegerField(allow_null=True, help_text="how many objects the action changed")
    outcome = serializers.ChoiceField(choices=["ok", "refused", "failed"])
    detail = serializers.CharField()
    changes = serializers.DictField(
        child=serializers.ListField(min_length=2, max_length=2),
        help_text='the fields the action changed, {"field": [before, after]}; secrets masked',
    )
    prev_hash = serializers.CharField(help_text="the previous row's row_hash (the hash chain; audit_verify)")
    row_hash = serializers.CharField(help_text="SHA-256 of this row's canonical content and prev_hash")


class AuditPageSerializer(serializers.Serializer):
    events = AuditEventSerializer(many=True, help_text="newest first")
    next_before = serializers.IntegerField(
        allow_null=True, help_text="pass as before= for the next (older) page; null on the last page"
    )
