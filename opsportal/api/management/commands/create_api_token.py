import getpass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from opsportal.api import services
from opsportal.api.scopes import scopes_known
from opsportal.api.tokens import scope_problems, token_grant_problems
from opsportal.audit.services import Actor


class Command(BaseCommand):
    help = (
        "Create an API token and print its secret once (it is stored hashed). With --user the token "
        "acts as that user: its scopes must be within the user's rights (read: active staff; each other scope: "
        "the permissions it needs), which are checked again at every use. Without --user it is a machine "
        "token, owned by no one (whoever runs this command has shell access to the portal)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", default="read", help=f"comma-separated: {', '.join(scopes_known())}")
        parser.add_argument("--user", help="the owner's username")
        parser.add_argument("--issued-by", help="the username of the person issuing it (recorded and audited)")
        parser.add_argument("--expires-in-days", type=int, help="expire after this many days")

    def _user(self, username: str | None, option: str):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"{option}: no user named {username!r}")
        return user

    def handle(self, *args, name, scopes, user, issued_by, expires_in_days, **options):
        owner = self._user(user, "--user")
        issuer = self._user(issued_by, "--issued-by")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        if issuer is not None:  # the same rules as in the admin, for the person named as the issuer
            label = f"the issuer {issuer.get_username()}"
            problems = token_grant_problems(issuer=issuer, owner=owner, scopes=wanted, issuer_label=label)
        else:
            problems = scope_problems(owner, wanted, label=f"the owner {owner.get_username()}") if owner else []
        # The command line has no login: the person named with --issued-by, else the OS user running it.
        actor = Actor.cli(issuer.get_username() if issuer is not None else getpass.getuser())
        if problems:
            services.token_issue_refused(actor=actor, name=name, problems=problems)
            raise CommandError(" ".join(problems))
        try:
            issued = services.token_issue(
                actor=actor,
                name=name,
                scopes=wanted,
                owner=owner,
                created_by=issuer,
                expires_at=expires_at,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(issued.secret)
        self.stderr.write(f"token {issued.token.name!r} ({issued.token.scopes}) created; store the secret now")
