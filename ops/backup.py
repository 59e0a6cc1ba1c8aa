"""Backing up the whole platform (database and media files) into one folder, and restoring it into a
fresh, empty instance. `manage.py backup` and `manage.py restore` (and `bin/backup`, `bin/restore`).

A backup folder holds:

    database.dump      PostgreSQL: `pg_dump -Fc` (custom format, compressed; `pg_restore` reads it)
    database.sqlite3   SQLite (the demo): a consistent copy made with SQLite's online backup API
    media.tar          every file under MEDIA_ROOT: uploaded images, stored imports, model files
    manifest.json      when, from what, the SHA-256 of each file, and the row count of every table

The database is dumped before the media files are read, so every file a row names is in the
backup (a file written meanwhile may be in it without its row, which does no harm). A restore
checks the checksums first, refuses a database that has tables or a media folder that has files,
and afterwards compares the restored row counts with the manifest's.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from common.files import sha256_of

MANIFEST = "manifest.json"
MEDIA = "media.tar"
DATABASE_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Outcome:
    folder: Path
    manifest: dict


def make_backup(folder: Path) -> Outcome:
    """Write a backup of the database and MEDIA_ROOT into `folder` (new, or empty)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty; name a new folder for the backup.")
    vendor = _vendor()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _write_backup(folder, vendor)
    except BaseException:
        # No half backup that looks like a whole one.
        for path in folder.iterdir():
            path.unlink()
        raise


def _write_backup(folder: Path, vendor: str) -> Outcome:
    database = folder / DATABASE_FILES[vendor]
    if vendor == "postgresql":
        counts = _pg_dump(database)
    else:
        _sqlite_copy(Path(settings.DATABASES["default"]["NAME"]), database)
        counts = _sqlite_counts(database)
    media_files = _tar_media(Path(settings.MEDIA_ROOT), folder / MEDIA)
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "engine": vendor,
        "database": database.name,
        "media": MEDIA,
        "media_files": media_files,
        "migrations": _migrations(),
        "counts": counts,
        "sha256": {name: sha256_of(folder / name) for name in (database.name, MEDIA)},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Outcome(folder, manifest)


def restore_backup(folder: Path) -> Outcome:
    """Restore a backup into the configured database (which must be empty) and MEDIA_ROOT (empty or new)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    vendor = _vendor()
    if manifest["engine"] != vendor:
        raise BackupError(f"The backup is of a {manifest['engine']} database; this instance uses {vendor}.")
    tables = connection.introspection.table_names()
    if tables:
        raise BackupError(f"The database {settings.DATABASES['default']['NAME']} already has {len(tables)} tables; "
                          "restore into a new, empty database (for PostgreSQL: createdb).")
    media_root = Path(settings.MEDIA_ROOT)
    if media_root.exists() and any(media_root.iterdir()):
        raise BackupError(f"MEDIA_ROOT ({media_root}) is not empty; restore into a new, empty folder.")
    database = folder / manifest["database"]
    if vendor == "postgresql":
        _run([pg_binary("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={settings.DATABASES['default']['NAME']}", *_pg_connection_args(dbname=False),
              str(database)], "pg_restore")
    else:
        connection.close()
        _sqlite_copy(database, Path(settings.DATABASES["default"]["NAME"]))
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / manifest["media"]) as tar:
        tar.extractall(media_root, filter="data")  # no absolute paths, no `..`, no devices
    extracted = sum(1 for path in media_root.rglob("*") if path.is_file())
    if extracted != manifest["media_files"]:
        raise BackupError(f"The backup holds {manifest['media_files']} media files, but {extracted} were restored.")
    restored = row_counts()
    # Tables of apps this code does not have (a backup from another version) are not compared.
    differ = {label: (n, restored[label]) for label, n in manifest["counts"].items()
              if label in restored and restored[label] != n}
    if differ:
        raise BackupError(f"The restored database differs from the backup (table: backup, restored): {differ}")
    return Outcome(folder, manifest)


def read_manifest(folder: Path) -> dict:
    """The backup's manifest, after checking that its files are there and unchanged."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder} holds no {MANIFEST}; is it a backup folder?") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}.")
    for name, digest in manifest["sha256"].items():
        path = folder / name
        if not path.exists():
            raise BackupError(f"The backup's {name} is missing.")
        if sha256_of(path) != digest:
            raise BackupError(f"The backup's {name} is damaged: its checksum differs from the manifest's.")
    return manifest


def row_counts() -> dict[str, int]:
    """The number of rows of every model's table (a restore must give the same)."""
    return {label: model._base_manager.count() for label, model in _tables().items()}


def _tables() -> dict:
    """The models with a table of their own, by label."""
    tables = set(connection.introspection.table_names())
    return {model._meta.label: model for model in apps.get_models()
            if model._meta.db_table in tables and not model._meta.proxy}


def _pg_dump(target: Path) -> dict[str, int]:
    """Dump the database to `target`; return the row counts of the very snapshot that was dumped.

    The counts are taken in a read-only REPEATABLE READ transaction whose snapshot pg_dump is given
    (`--snapshot`), so they match the dump exactly while people keep working.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        counts = row_counts()
        _run([pg_binary("pg_dump"), "--format=custom", "--no-privileges", f"--snapshot={snapshot}",
              f"--file={target}", *_pg_connection_args()], "pg_dump")
    return counts


def _sqlite_counts(copy: Path) -> dict[str, int]:
    with sqlite3.connect(copy) as db:
        counts = {label: db.execute(f'SELECT COUNT(*) FROM "{model._meta.db_table}"').fetchone()[0]
                  for label, model in _tables().items()}
    db.close()
    return counts


def pg_binary(name: str) -> str:
    """A PostgreSQL client program: from HITL_PG_BIN (a folder), the PATH, or the newest server install."""
    folder = os.environ.get("HITL_PG_BIN")
    if folder:
        return str(Path(folder) / name)
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                       key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not installed:
        raise BackupError(f"{name} is not installed (the PostgreSQL client programs; Debian: postgresql-client), "
                          "or set HITL_PG_BIN to the folder that holds it.")
    return str(installed[-1])


def _vendor() -> str:
    if connection.vendor not in DATABASE_FILES:
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")
    return connection.vendor


def _pg_connection_args(dbname: bool = True) -> list[str]:
    db = settings.DATABASES["default"]
    args = [f"--host={db['HOST']}"] if db.get("HOST") else []
    args += [f"--port={db['PORT']}"] if db.get("PORT") else []
    args += [f"--username={db['USER']}"] if db.get("USER") else []
    return args + ([f"--dbname={db['NAME']}"] if dbname else [])


def _run(argv: list[str], what: str) -> None:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]  # not on the command line, where `ps` would show it
    if db.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = db["OPTIONS"]["sslmode"]
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included), page by page."""
    if not source.exists():
        raise BackupError(f"There is no SQLite database at {source}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _tar_media(root: Path, target: Path) -> int:
    """Every file under `root`, with paths relative to it; returns how many files."""
    files = 0
    with tarfile.open(target, "w") as tar:
        if root.exists():
            for path in sorted(root.rglob("*")):
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue
                tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
                files += path.is_file()
    return files


def _migrations() -> dict[str, str]:
    """The newest applied migration of every app (what code the backup's schema matches)."""
    newest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).migration_qs.order_by("id").values_list("app", "name"):
        newest[app] = name
    return newest


