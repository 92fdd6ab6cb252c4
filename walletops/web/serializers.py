"""Response shapes of the wallet ops API, for its OpenAPI schema (``/api/schema/``)."""

from rest_framework import serializers


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
