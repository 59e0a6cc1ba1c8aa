"""`manage.py import_items <project> FILE...`: import files too large for a browser upload."""
from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from dataio.importing import DUPLICATE_POLICIES, import_into, read_files, schema_of
from dataio.readers import ImageStore, ReadOptions
from dataio.records import RecordError
from tasks.models import Project


class _Counted:
    """A binary stream that advances a progress bar by the bytes read from it."""

    def __init__(self, stream, bar: tqdm):
        self._stream, self._bar = stream, bar

    def read(self, size=-1):
        chunk = self._stream.read(size)
        self._bar.update(len(chunk))
        return chunk

    def readline(self, size=-1):
        line = self._stream.readline(size)
        self._bar.update(len(line))
        return line

    def __iter__(self):
        for line in self._stream:
            self._bar.update(len(line))
            yield line

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Command(BaseCommand):
    help = ("Import items into a project from JSON, JSON Lines, CSV, Parquet, Label Studio JSON, a zip of images or "
            "image files; all-or-nothing, in constant memory, with a progress bar.")

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="the project's id")
        parser.add_argument("files", nargs="+", help="files to import, read one after the other")
        parser.add_argument("--format", choices=["json", "jsonl", "csv", "parquet", "zip", "image", "label_studio"],
                            help="how to read the files (default: by extension)")
        parser.add_argument("--on-duplicate", choices=DUPLICATE_POLICIES, default="error",
                            help="a record whose external_id the project has: error (default), skip or update")
        parser.add_argument("--labels-as", choices=["gold", "annotations", "predictions"], default="gold",
                            help="what labels that come with the records become")
        parser.add_argument("--annotator", help="username imported annotations are attributed to")
        parser.add_argument("--text-column", default="text", help="CSV and Parquet: the column holding the text")
        parser.add_argument("--columns", help="CSV and Parquet: comma-separated columns that go into the item's data")
        parser.add_argument("--label-column", help="CSV, Parquet and flat JSON: a column holding an existing label")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, project: int, files: list[str], **o):
        target = Project.objects.filter(pk=project).first()
        if target is None:
            raise CommandError(f"There is no project {project}.")
        for name in files:
            if not os.path.isfile(name):
                raise CommandError(f"No such file: {name}")
        options = ReadOptions(format=o["format"], text_column=o["text_column"],
                              columns=[c.strip() for c in o["columns"].split(",")] if o["columns"] else None,
                              label_column=o["label_column"], labels_as=o["labels_as"], annotator=o["annotator"])
        total = sum(os.path.getsize(name) for name in files)
        store = ImageStore()
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="import",
                  disable=o["no_progress"], file=self.stderr) as bar:
            records = read_files([(name, Path(name).name) for name in files], schema_of(target), options, store,
                                 wrap=lambda stream: _Counted(stream, bar))
            try:
                result = import_into(target, records, on_duplicate=o["on_duplicate"], store=store)
            except RecordError as exc:
                raise CommandError(f"Nothing imported. {exc}") from None
        store.keep()
        self.stdout.write(f"Imported {result.imported} items into project {target.pk} ({target.name}); "
                          f"{result.updated} updated, {result.skipped} skipped, {result.annotations} annotations.")
