from django.core.management.base import BaseCommand

from plannings.jobs import backfill_pass


class Command(BaseCommand):
    help = "Run one backfill pass now: enqueue plannings with a missing or stale backup."

    def handle(self, *args, **options):
        result = backfill_pass()
        if result.state == "disabled":
            self.stdout.write(self.style.WARNING("backfill is off (RUN_JOBS / ALLOWED_JOBS); nothing done"))
            return
        self.stdout.write(f"backfill {result.state}: enqueued {result.missing} missing, {result.stale} stale")
