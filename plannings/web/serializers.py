"""The health payload's shape, for the OpenAPI schema."""

from rest_framework import serializers


class QueueFiguresSerializer(serializers.Serializer):
    depth = serializers.IntegerField()
    ready = serializers.IntegerField()
    locked = serializers.IntegerField()


class BackupFiguresSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    covered = serializers.IntegerField()
    disabled = serializers.IntegerField()


class WorkersSerializer(serializers.Serializer):
    backfill = serializers.CharField()
    refreshWorker = serializers.CharField()  # noqa: N815 (upstream's JSON name)


class LastBackupWriteSerializer(serializers.Serializer):
    planningFullId = serializers.CharField()  # noqa: N815
    changed = serializers.BooleanField()
    nbEvents = serializers.IntegerField()  # noqa: N815
    at = serializers.DateTimeField()


class FailedHostSerializer(serializers.Serializer):
    host = serializers.CharField()
    count = serializers.IntegerField()
    lastFailure = serializers.CharField(allow_null=True)  # noqa: N815


class RecentFailureSerializer(serializers.Serializer):
    planningFullId = serializers.CharField()  # noqa: N815
    failureKind = serializers.CharField(allow_null=True)  # noqa: N815
    failures = serializers.IntegerField()
    disabledUntil = serializers.DateTimeField(allow_null=True)  # noqa: N815


class PlanningsHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
    issues = serializers.ListField(child=serializers.CharField())
    workers = WorkersSerializer()
    inQuietHours = serializers.BooleanField()  # noqa: N815
    queue = QueueFiguresSerializer()
    backups = BackupFiguresSerializer()
    lastBackupWrite = LastBackupWriteSerializer(allow_null=True)  # noqa: N815
    failedHosts = FailedHostSerializer(many=True, allow_null=True)  # noqa: N815
    recentFailures = RecentFailureSerializer(many=True, allow_null=True)  # noqa: N815


class NotFoundSerializer(serializers.Serializer):
    error = serializers.ChoiceField(choices=["NOT_FOUND"])
