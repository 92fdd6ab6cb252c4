"""``manage.py audit_verify``: check the audit trail's hash chain; exit 1 naming the first broken row."""

from django.core.management.base import BaseCommand, CommandError

from opsportal.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain: OK with the row count, or the first row edited, inserted or removed."

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if report.problem:
            raise CommandError(f"audit trail broken after {report.rows} rows checked: {report.problem}")
        head = f"; head row {report.head_id}, sha256 {report.head_hash}" if report.head_id else ""
        self.stdout.write(f"OK: {report.rows} rows, chain intact{head}")
