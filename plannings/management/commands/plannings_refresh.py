from django.core.management.base import BaseCommand

from plannings.jobs import refresh_poll, worker_id


class Command(BaseCommand):
    help = "Run one drain of the refresh queue now (claims safely beside running workers)."

    def handle(self, *args, **options):
        result = refresh_poll(owner=worker_id(), wake=True)
        if result.state == "disabled":
            self.stdout.write(self.style.WARNING("refresh worker is off (RUN_JOBS / ALLOWED_JOBS); nothing done"))
            return
        if result.drained is None:
            self.stdout.write(f"refresh worker {result.state}: nothing done")
            return
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.drained.outcomes.items())) or "none"
        self.stdout.write(
            f"claimed {result.drained.claimed}, succeeded {result.drained.succeeded}; outcomes: {outcomes}; "
            f"swept {result.swept} dead rows"
        )
