"""`manage.py export_items <project> --format jsonl --output FILE`: export without a browser, with progress."""
from __future__ import annotations

import getpass
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from dataio import export
from tasks.models import FinalSource, ItemStatus, Project


class Command(BaseCommand):
    help = ("Export a project's items to a file (or stdout with --output -), streamed in constant memory, with a "
            "progress bar; the same formats and filters as GET /api/projects/{id}/export/.")

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="the project's id")
        parser.add_argument("--format", default="jsonl", help=f"one of {', '.join(export.FORMATS)} (default jsonl)")
        parser.add_argument("--output", "-o", required=True,
                            help="the file to write ('-' for stdout); written as FILE.partial, then renamed")
        parser.add_argument("--status", action="append", default=[],
                            help=f"only items with this status ({', '.join(ItemStatus.values)}); repeatable or "
                                 "comma-separated")
        parser.add_argument("--source", action="append", default=[],
                            help=f"only items whose final value came from this source "
                                 f"({', '.join(FinalSource.values)}); repeatable or comma-separated")
        parser.add_argument("--since", help="ISO date or date-time: items (or final values, when only those are "
                                            "exported) from then on")
        parser.add_argument("--until", help="ISO date or date-time, inclusive (a date includes the whole day)")
        parser.add_argument("--only-final", action="store_true", help="only items with a final value")
        parser.add_argument("--ties", choices=export.filters.TIES, default="exclude",
                            help="preference format: leave ties out (default) or include them")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, project: int, **o):
        target = Project.objects.filter(pk=project).first()
        if target is None:
            raise CommandError(f"There is no project {project}.")
        params = {"status": o["status"], "source": o["source"], "since": [o["since"]] if o["since"] else [],
                  "until": [o["until"]] if o["until"] else [], "only_final": ["true" if o["only_final"] else "false"]}
        try:
            filters = export.parse_filters(params)
            fmt = export.get_format(target, o["format"])
        except export.ExportError as exc:
            raise CommandError(f"--{exc.param.replace('_', '-')}: {exc.message}") from None
        output = o["output"]
        if output != "-" and not Path(output).parent.is_dir():
            raise CommandError(f"--output: no such directory: {Path(output).parent}")
        total = export.count(target, fmt, filters)
        with tqdm(total=total, unit="item", desc=f"export {fmt.name}", disable=o["no_progress"],
                  file=self.stderr) as bar:
            result = export.export(target, fmt.name, filters, ties=o["ties"] == "include", progress=bar.update)
            if output == "-":
                self._to_stdout(result.chunks)
            else:
                self._to_file(result.chunks, Path(output))
        export.record(target, fmt, filters, via="command", ties=o["ties"] == "include", items=total // fmt.passes,
                      output=output, os_user=_os_user())
        if output != "-":
            self.stderr.write(f"Exported {total // fmt.passes} items of project {target.pk} ({target.name}) "
                              f"to {output} ({fmt.name}).")

    def _to_file(self, chunks, path: Path) -> None:
        # A failed or interrupted export leaves no truncated file under the real name.
        partial = path.with_name(path.name + ".partial")
        try:
            with open(partial, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def _to_stdout(self, chunks) -> None:
        binary = getattr(self.stdout._out, "buffer", None)
        for chunk in chunks:
            if binary is not None:
                binary.write(chunk)
            else:  # a text stream (call_command's stdout=StringIO())
                self.stdout.write(chunk.decode(), ending="")
        (binary or self.stdout).flush()


def _os_user() -> str | None:
    """Who ran the command, as the operating system knows them (the audit trail's `os_user`)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None
