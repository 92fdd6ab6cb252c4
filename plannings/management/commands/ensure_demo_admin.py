import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create or update the demo admin user for `make run` and print its login. The password "
        "comes from OPSPORTAL_ADMIN_PASSWORD, else from var/admin-password (made once, mode 0600)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("OPSPORTAL_ADMIN_USER", "admin"))
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args, username: str, url: str, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("refusing to create a demo admin with DJANGO_ENV=production")
        password = os.environ.get("OPSPORTAL_ADMIN_PASSWORD") or self._saved_password()
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        # Only a changed password is set again: a new hash (new salt) would log out every open session,
        # as Django ties a session to the password hash, at each ``make run``.
        if not user.check_password(password):
            user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Portal: {url}  login: {username} / {password}"))

    def _saved_password(self) -> str:
        path = Path(settings.VAR_DIR) / "admin-password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(password + "\n")
        return password
