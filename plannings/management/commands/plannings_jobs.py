import getpass

from django.core.management.base import BaseCommand
from django.utils import timezone

from opsportal.audit.services import Actor
from plannings import selectors
from plannings.runtime import jobs_pause, jobs_resume


class Command(BaseCommand):
    help = "Pause or resume both plannings jobs (a durable switch every worker reads), or show their state."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["pause", "resume", "status"])

    def handle(self, *args, action: str, **options):
        # The command line has no login: the OS user, in the audit trail with via "cli".
        actor = Actor.cli(getpass.getuser())
        if action == "pause":
            jobs_pause(actor=actor, now=timezone.now())
        elif action == "resume":
            jobs_resume(actor=actor, now=timezone.now())
        shared = selectors.jobs_shared_state()
        self.stdout.write(f"jobs {'paused' if shared.paused else 'running'}")
        for job_id, runtime in sorted(selectors.job_runtimes().items()):
            self.stdout.write(f"  {job_id}: {runtime.state}, last loop {runtime.last_loop_at or 'never'}")
