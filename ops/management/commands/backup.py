"""`manage.py backup [FOLDER]`: the database (pg_dump, or SQLite's backup API) and MEDIA_ROOT, in one folder."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit import trail
from ops.backup import BackupError, make_backup


class Command(BaseCommand):
    help = ("Back up the database and every media file (uploaded images, stored imports, model files) into "
            "one new folder, with a manifest of checksums and row counts. `manage.py restore FOLDER` puts it "
            "back into a fresh instance.")

    def add_arguments(self, parser):
        parser.add_argument("folder", nargs="?",
                            help="the folder to create (default: HITL_VAR_DIR/backups/hitl-<date>-<time>)")

    def handle(self, *args, folder: str | None = None, **options):
        target = Path(folder) if folder else (
            Path(settings.VAR_DIR) / "backups" / f"hitl-{timezone.now():%Y%m%d-%H%M%S}")
        try:
            outcome = make_backup(target)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = outcome.manifest
        trail.record("backup.made", folder=str(target.resolve()), engine=manifest["engine"],
                     media_files=manifest["media_files"], sha256=manifest["sha256"])
        counts = manifest["counts"]
        self.stdout.write(
            f"Backed up to {target}: {manifest['engine']} database ({counts.get('tasks.Project', 0)} projects, "
            f"{counts.get('tasks.Item', 0)} items, {counts.get('annotations.Annotation', 0)} annotations) and "
            f"{manifest['media_files']} media files.")
