"""Upstream's health JSON: the one place where the ``HealthReport`` meets its camelCase wire format.

The declared fields give the OpenAPI schema; ``PlanningsHealthSerializer.to_representation``
writes the body itself, so key order, times (ISO, milliseconds, ``Z``) and ``null`` for
an empty list stay exactly upstream's.
"""

from __future__ import annotations

from rest_framework import serializers

from opsportal.lib.health_status import LADDER
from opsportal.lib.timefmt import iso_utc
from plannings.health import HealthReport


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
    status = serializers.ChoiceField(choices=[status.value for status in LADDER])
    issues = serializers.ListField(child=serializers.CharField())
    workers = WorkersSerializer()
    inQuietHours = serializers.BooleanField()  # noqa: N815
    queue = QueueFiguresSerializer()
    backups = BackupFiguresSerializer()
    lastBackupWrite = LastBackupWriteSerializer(allow_null=True)  # noqa: N815
    failedHosts = FailedHostSerializer(many=True, allow_null=True)  # noqa: N815
    recentFailures = RecentFailureSerializer(many=True, allow_null=True)  # noqa: N815

    def to_representation(self, instance: HealthReport) -> dict:
        report = instance
        last_write = report.last_backup_write
        return {
            "status": report.status,
            "issues": list(report.issues),
            "workers": {"backfill": report.backfill_state, "refreshWorker": report.refresh_worker_state},
            "inQuietHours": report.in_quiet_hours,
            "queue": {"depth": report.queue.depth, "ready": report.queue.ready, "locked": report.queue.locked},
            "backups": {
                "total": report.backups.total,
                "covered": report.backups.covered,
                "disabled": report.backups.disabled,
            },
            "lastBackupWrite": None
            if last_write is None
            else {
                "planningFullId": last_write.planning_full_id,
                "changed": last_write.changed,
                "nbEvents": last_write.nb_events,
                "at": iso_utc(last_write.at),
            },
            # Upstream sends null, not [], when there is nothing to list.
            "failedHosts": [
                {"host": host.host, "count": host.count, "lastFailure": host.last_failure}
                for host in report.failed_hosts
            ]
            or None,
            "recentFailures": [
                {
                    "planningFullId": failure.planning_full_id,
                    "failureKind": failure.failure_kind,
                    "failures": failure.failures,
                    "disabledUntil": iso_utc(failure.disabled_until),
                }
                for failure in report.recent_failures
            ]
            or None,
        }


def health_json(report: HealthReport) -> dict:
    """The report as upstream's JSON object (``GET /api/ops/plannings``, ``manage.py ops_health``)."""
    return PlanningsHealthSerializer(report).data


class NotFoundSerializer(serializers.Serializer):
    error = serializers.ChoiceField(choices=["NOT_FOUND"])
