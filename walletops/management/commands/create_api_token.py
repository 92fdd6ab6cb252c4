from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from walletops.tokens import api_token_create


class Command(BaseCommand):
    help = "Create a wallet ops API token and print its secret once (it is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", default="read", help="comma-separated: read, restart")
        parser.add_argument("--user", help="the owner's username")
        parser.add_argument("--expires-in-days", type=int, help="expire after this many days")

    def handle(self, *args, name, scopes, user, expires_in_days, **options):
        owner = None
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"no user named {user!r}")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            issued = api_token_create(
                name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()], owner=owner,
                expires_at=expires_at,
            )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(issued.secret)
        self.stderr.write(f"token {issued.token.name!r} ({issued.token.scopes}) created; store the secret now")
