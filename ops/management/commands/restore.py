"""`manage.py restore FOLDER`: a `manage.py backup` folder into a fresh, empty database and media folder."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit import trail
from ops.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = ("Restore a backup made by `manage.py backup` into the configured database, which must be empty "
            "(a new database: createdb), and MEDIA_ROOT, which must be empty or missing. The backup's checksums "
            "are checked first and its row counts after.")

    def add_arguments(self, parser):
        parser.add_argument("folder", help="the backup folder (it holds manifest.json)")

    def handle(self, *args, folder: str, **options):
        try:
            outcome = restore_backup(Path(folder))
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = outcome.manifest
        trail.record("backup.restored", folder=str(Path(folder).resolve()), made_at=manifest["created_at"],
                     sha256=manifest["sha256"])
        counts = manifest["counts"]
        self.stdout.write(
            f"Restored the backup of {manifest['created_at']}: {counts.get('tasks.Project', 0)} projects, "
            f"{counts.get('tasks.Item', 0)} items, {counts.get('annotations.Annotation', 0)} annotations and "
            f"{manifest['media_files']} media files. If this code is newer than the backup, run "
            f"`manage.py migrate` now.")
