from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from plannings.catalog import CatalogError, catalog_apply, catalog_read


class Command(BaseCommand):
    help = (
        "Import a PlanningSup catalog: a directory (the whole catalog; plannings not in it are "
        "removed) or one school's JSON file (only that school's plannings are touched)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="catalog directory or a single school file")
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report what would change; write nothing"
        )

    def handle(self, *args, path: Path, dry_run: bool, verbosity: int, **options):
        def progress(position: int, count: int, file: Path) -> None:
            if verbosity >= 1:
                self.stdout.write(f"[{position}/{count}] read {file.name}")

        try:
            contents = catalog_read(path, progress=progress)
        except CatalogError as exc:
            for problem in exc.problems:
                self.stderr.write(self.style.ERROR(problem))
            raise CommandError(f"catalog rejected: {len(exc.problems)} problem(s); nothing was written") from None
        for warning in contents.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        summary = catalog_apply(contents=contents, dry_run=dry_run)
        prefix = "dry run, nothing written: would have " if dry_run else ""
        self.stdout.write(self.style.SUCCESS(f"{prefix}{summary}"))
