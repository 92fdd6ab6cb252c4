import json
import sys

from django.core.management.base import BaseCommand

from opsportal.lib.health_status import LADDER, status_rank
from plannings.health import health_report
from plannings.web.serializers import health_json

EXIT_CODES = {status.value: status_rank(status) for status in LADDER}  # 0 healthy, 1 degraded, 2 unhealthy


class Command(BaseCommand):
    help = "Print the plannings health JSON; exit 0 healthy, 1 degraded, 2 unhealthy."

    def handle(self, *args, **options):
        report = health_report()
        self.stdout.write(json.dumps(health_json(report), indent=2, ensure_ascii=False))
        # Exit directly: a status is an answer, not an error for CommandError to decorate.
        sys.exit(EXIT_CODES[report.status])
