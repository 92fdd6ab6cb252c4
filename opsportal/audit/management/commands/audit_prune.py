"""``manage.py audit_prune``: remove audit rows older than OPSPORTAL_AUDIT_RETENTION_DAYS, recording the prune."""

from django.conf import settings
from django.core.management.base import BaseCommand

from opsportal.audit.services import audit_prune


class Command(BaseCommand):
    help = "Remove audit rows older than the retention (OPSPORTAL_AUDIT_RETENTION_DAYS); the prune is recorded."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the retention, in days (at least 1)")

    def handle(self, *args, days=None, **options):
        days = days if days is not None else settings.OPSPORTAL_AUDIT_RETENTION_DAYS
        if days < 1:
            self.stderr.write("--days: at least 1")
            raise SystemExit(2)
        event = audit_prune(days=days)
        self.stdout.write(event.detail if event else f"nothing older than {days} days")
