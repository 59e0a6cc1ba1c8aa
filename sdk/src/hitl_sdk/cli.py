"""The `hitl` command: import, export, train, activate, pre-label, statistics and users from a shell.

    hitl login --url http://localhost:8000 --username alice      # stores the URL and a token
    hitl import 3 reviews.jsonl --option on_duplicate=skip
    hitl export 3 --format jsonl --output reviews-labeled.jsonl
    hitl train 3 && hitl activate 12 && hitl prelabel 3
    hitl stats 3

The server and token come from `--url` / `--token`, else `HITL_URL` / `HITL_TOKEN`, else the file `hitl login`
wrote (`$XDG_CONFIG_HOME/hitl/config.json`, by default `~/.config/hitl/config.json`). A refused request
exits with status 1 and the server's message on stderr; bad usage exits with 2.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from hitl_sdk import __version__
from hitl_sdk.client import Client
from hitl_sdk.errors import HitlError
from hitl_sdk.jobs import Job

__all__ = ["config_path", "main"]

# `hitl export --format` values written through hitl_sdk.datasets (Hugging Face datasets) rather than the server.
DATASET_FORMATS = {"hf": "disk", "parquet": "parquet"}
SERVER_FORMATS = ("json", "jsonl", "csv", "coco", "conll", "preference", "pairs", "label_studio")


class UsageError(Exception):
    """Bad command-line input found after parsing (exit status 2)."""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hitl" / "config.json"


def _read_config() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_config(data: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the token is a secret
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    return path


def _client(args: argparse.Namespace) -> Client:
    config = _read_config()
    url = args.url or os.environ.get("HITL_URL") or config.get("url")
    token = args.token or os.environ.get("HITL_TOKEN") or config.get("token")
    if not url:
        raise UsageError("No server: pass --url, set HITL_URL, or run `hitl login`.")
    if not token:
        raise UsageError("Not logged in: pass --token, set HITL_TOKEN, or run `hitl login`.")
    return Client(url, token=token)


def _options(pairs: Sequence[str] | None, what: str) -> dict[str, Any]:
    """`k=v` pairs; values that read as JSON (numbers, true, null, lists) are taken as such."""
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} must look like key=value, not {pair!r}")
        options[key.strip()] = value
    return options


def _json_values(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _emit(data: Any, out: TextIO | None = None) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str), file=out or sys.stdout)


def _pretty(data: Any, indent: int = 0, out: TextIO | None = None) -> None:
    """Nested dicts and lists as an indented outline, for people."""
    out = out or sys.stdout
    pad = "  " * indent
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value and not _flat_list(value):
                print(f"{pad}{key}:", file=out)
                _pretty(value, indent + 1, out)
            else:
                print(f"{pad}{key}: {_scalar(value)}", file=out)
    elif isinstance(data, list):
        for value in data:
            if isinstance(value, (dict, list)) and not _flat_list(value):
                print(f"{pad}-", file=out)
                _pretty(value, indent + 1, out)
            else:
                print(f"{pad}- {_scalar(value)}", file=out)
    else:
        print(f"{pad}{_scalar(data)}", file=out)


def _flat_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value) or "[]"
    if value is None:
        return "-"
    if isinstance(value, dict):
        return "{}"
    return str(value)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    cells = [[_scalar(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _job_line(job: Job) -> str:
    summary = job.data.get("summary") or ""
    total = f"/{job.total}" if job.total is not None else ""
    return f"job {job.id} ({job.kind}) {job.state}, {job.progress}{total}" + (f": {summary}" if summary else "")


def _progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and not args.json


# -- commands ---------------------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    config = _read_config()
    url = args.url or os.environ.get("HITL_URL") or config.get("url")
    if not url:
        raise UsageError("Give the server: hitl login --url http://host:8000")
    if args.token:
        client = Client(url, token=args.token)
        user = client.me()
        token = args.token
    else:
        username = args.username or input("Username: ")
        password = args.password or os.environ.get("HITL_PASSWORD") or getpass.getpass("Password: ")
        client = Client(url, username=username, password=password)
        user = client.me()
        token = client.token or ""
    client.close()
    path = _write_config({"url": client.url, "token": token})
    if args.json:
        _emit({"url": client.url, "user": user, "config": str(path)})
    else:
        print(f"Logged in to {client.url} as {user.get('username')} ({user.get('role')}); saved in {path}")
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    with _client(args) as client:
        user = client.me()
    _emit(user) if args.json else print(f"{user.get('username')} ({user.get('role')}) on {client.url}")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.projects_command == "create":
            labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else []
            project = client.create_project(args.name, args.task_type, labels,
                                            **_json_values(_options(args.set, "--set")))
            _emit(project.data) if args.json else print(f"Created project {project.id} {project.name!r}")
            return 0
        if args.projects_command == "show":
            project = client.project(args.project)
            _emit(project.data) if args.json else _pretty(project.data)
            return 0
        projects = [p.data for p in client.projects()]
    if args.json:
        _emit(projects)
    else:
        _table(projects, ["id", "name", "task_type", "labels"])
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    options = _options(args.option, "--option")
    with _client(args) as client:
        project = client.project(args.project)
        result = project.import_files(args.files, wait=not args.no_wait, progress=_progress(args), **options)
    if args.json or "job" in result:
        _emit(result)
    else:
        print(f"Imported {result.get('imported', 0)} into project {project.id} (updated {result.get('updated', 0)}, "
              f"skipped {result.get('skipped', 0)}, annotations {result.get('annotations', 0)})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    filters = _options(args.filter, "--filter")
    if args.status:
        filters["status"] = args.status
    if args.only_final:
        filters["only_final"] = True
    with _client(args) as client:
        project = client.project(args.project)
        if args.format in DATASET_FORMATS:
            if not args.output:
                raise UsageError(f"--format {args.format} writes a dataset folder: give --output PATH")
            from hitl_sdk.datasets import save_dataset

            save_dataset(project, args.output, kind=args.kind, format=DATASET_FORMATS[args.format],
                                  test_size=args.test_size, seed=args.seed)
            print(f"Wrote {args.kind} of project {project.id} as {args.format} to {args.output}", file=sys.stderr)
            return 0
        if args.output and args.output != "-":
            written = project.export_to(args.output, format=args.format, **filters)
            print(f"Wrote {written} bytes ({args.format}) to {args.output}", file=sys.stderr)
            return 0
        sys.stdout.flush()
        project.export_to(sys.stdout.buffer, format=args.format, **filters)
        sys.stdout.buffer.flush()
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    with _client(args) as client:
        project = client.project(args.project)
        job = project.train(wait=not args.no_wait, progress=_progress(args), force=args.force)
        newest = project.models()[:1] if job.succeeded else []
    if args.json:
        _emit({"job": job.data, "model": newest[0] if newest else None})
        return 0
    print(_job_line(job))
    if newest and not (job.result or {}).get("skipped"):
        model = newest[0]
        metrics = model.get("metrics") or {}
        shown = ", ".join(f"{k} {_scalar(metrics[k])}" for k in ("accuracy", "macro_f1") if k in metrics)
        print(f"model {model.get('id')}: version {model.get('version')}, trained on {model.get('train_size')}"
              + (f", {shown}" if shown else "") + (" (active)" if model.get("active") else ""))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    with _client(args) as client:
        models = client.project(args.project).models()
    if args.json:
        _emit(models)
    else:
        rows = [{**m, "accuracy": (m.get("metrics") or {}).get("accuracy"),
                 "macro_f1": (m.get("metrics") or {}).get("macro_f1")} for m in models]
        _table(rows, ["id", "version", "created", "train_size", "accuracy", "macro_f1", "active"])
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    with _client(args) as client:
        model = client.activate(args.model)
        job = client.job(int(model["prelabel_job"])) if model.get("prelabel_job") else None
        if job is not None and args.wait:
            job.wait(progress=_progress(args))
    if args.json:
        _emit(model)
    else:
        print(f"Activated model {model.get('id')} (version {model.get('version')})"
              + (f"; re-scoring: {_job_line(job)}" if job is not None else ""))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    with _client(args) as client:
        model = client.project(args.project).rollback()
    _emit(model) if args.json else print(f"Rolled back to model {model.get('id')} (version {model.get('version')})")
    return 0


def cmd_prelabel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.project(args.project).prelabel(wait=not args.no_wait, progress=_progress(args))
    _emit(job.data) if args.json else print(_job_line(job))
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.job(args.job)
        if args.wait:
            job.wait(progress=_progress(args))
    _emit(job.data) if args.json else print(_job_line(job))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _client(args) as client:
        stats = client.project(args.project).stats()
    _emit(stats) if args.json else _pretty(stats)
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.users_command == "create":
            password = args.password or os.environ.get("HITL_NEW_PASSWORD") or getpass.getpass("Password: ")
            user = client.users.create(args.username, password, args.role, email=args.email)
            _emit(user) if args.json else print(f"Created user {user.get('id')} {user.get('username')} "
                                                f"({user.get('role')})")
            return 0
        if args.users_command in ("deactivate", "activate"):
            user = client.users.update(client.users.get(_user_ref(args.user))["id"],
                                       is_active=args.users_command == "activate")
            _emit(user) if args.json else print(f"{user.get('username')}: active {user.get('is_active')}")
            return 0
        if args.users_command == "role":
            user = client.users.update(client.users.get(_user_ref(args.user))["id"], role=args.role)
            _emit(user) if args.json else print(f"{user.get('username')}: role {user.get('role')}")
            return 0
        users = client.users.list()
    _emit(users) if args.json else _table([dict(u) for u in users], ["id", "username", "role"])
    return 0


def cmd_members(args: argparse.Namespace) -> int:
    with _client(args) as client:
        project = client.project(args.project)
        if args.members_command in ("add", "remove"):
            user = client.users.get(_user_ref(args.user))
            if args.members_command == "add":
                project.add_member(user)
            else:
                project.remove_member(user)
        members = project.members()
    _emit(members) if args.json else _table([dict(m) for m in members], ["id", "username", "role"])
    return 0


def _user_ref(text: str) -> int | str:
    return int(text) if text.isdigit() else text


# -- the parser ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help="server base URL (else HITL_URL, else the login file)")
    common.add_argument("--token", default=argparse.SUPPRESS, help="API token (else HITL_TOKEN, else the login file)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of text")

    parser = argparse.ArgumentParser(prog="hitl", parents=[common],
                                     description="Command line of the hitl annotation platform's REST API.")
    parser.add_argument("--version", action="version", version=f"hitl-sdk {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(func=func)
        return sub

    login = command("login", cmd_login, "log in and store the URL and token for later commands")
    login.add_argument("--username", "-u")
    login.add_argument("--password", "-p", help="else HITL_PASSWORD, else asked for")

    command("whoami", cmd_whoami, "the logged-in user")

    projects = command("projects", cmd_projects, "list, show or create projects")
    projects_sub = projects.add_subparsers(dest="projects_command", metavar="ACTION")
    projects_sub.add_parser("list", parents=[common], help="the projects you can see")
    show = projects_sub.add_parser("show", parents=[common], help="one project's settings")
    show.add_argument("project", help="project id or name")
    create = projects_sub.add_parser("create", parents=[common], help="create a project (admin)")
    create.add_argument("name")
    create.add_argument("--task-type", required=True,
                        choices=["classification", "multi_label", "spans", "boxes", "pairwise"])
    create.add_argument("--labels", default="", help="comma-separated label names")
    create.add_argument("--set", action="append", metavar="FIELD=VALUE",
                        help="another project field (JSON values: --set overlap=2); repeatable")

    imp = command("import", cmd_import, "import files of records into a project (all or nothing)")
    imp.add_argument("project", help="project id or name")
    imp.add_argument("files", nargs="+", metavar="FILE", help=".json, .jsonl, .csv, .parquet, .zip of images, images")
    imp.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                     help="import option: format, on_duplicate (error|skip|update), labels_as "
                          "(gold|annotations|predictions), annotator, text_column, columns, label_column")
    imp.add_argument("--no-wait", action="store_true", help="do not wait for a large import's job")
    imp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    exp = command("export", cmd_export, "export a project's records (to a file or stdout)")
    exp.add_argument("project", help="project id or name")
    exp.add_argument("--format", "-f", default="jsonl", choices=[*SERVER_FORMATS, *DATASET_FORMATS],
                     help="a server format, or hf / parquet: a Hugging Face dataset (needs hitl-sdk[datasets])")
    exp.add_argument("--output", "-O", help="file (folder for hf/parquet); default stdout")
    exp.add_argument("--status", action="append", help="only items with this status; repeatable")
    exp.add_argument("--only-final", action="store_true", help="only items with a final value")
    exp.add_argument("--filter", action="append", metavar="KEY=VALUE",
                     help="another export parameter: source, since, until, ties; repeatable")
    exp.add_argument("--kind", default="labels", choices=["labels", "records", "preference"],
                     help="hf/parquet: what the dataset holds")
    exp.add_argument("--test-size", type=float, default=None, help="hf/parquet: share (or count) held out as test")
    exp.add_argument("--seed", type=int, default=0, help="hf/parquet: seed of the split")

    train = command("train", cmd_train, "train a new model version and wait for it (ml_engineer)")
    train.add_argument("project", help="project id or name")
    train.add_argument("--no-wait", action="store_true")
    train.add_argument("--force", action="store_true", help="train even with no new labels")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    models = command("models", cmd_models, "a project's model versions, newest first")
    models.add_argument("project", help="project id or name")

    activate = command("activate", cmd_activate, "make a model version the active one (ml_engineer)")
    activate.add_argument("model", type=int, help="model id (see `hitl models`)")
    activate.add_argument("--wait", action="store_true", help="wait for the queue's re-scoring")
    activate.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    rollback = command("rollback", cmd_rollback, "bring back the previously active model (ml_engineer)")
    rollback.add_argument("project", help="project id or name")

    prelabel = command("prelabel", cmd_prelabel, "pre-label and route items with the active model (ml_engineer)")
    prelabel.add_argument("project", help="project id or name")
    prelabel.add_argument("--no-wait", action="store_true")
    prelabel.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    job = command("job", cmd_job, "a background job's state")
    job.add_argument("job", type=int)
    job.add_argument("--wait", action="store_true")
    job.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    stats = command("stats", cmd_stats, "a project's statistics (agreement, annotators, routing, model)")
    stats.add_argument("project", help="project id or name")

    users = command("users", cmd_users, "list, create, deactivate users, set their role (admin)")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION")
    users_sub.add_parser("list", parents=[common], help="every user")
    user_create = users_sub.add_parser("create", parents=[common], help="create a user")
    user_create.add_argument("username")
    user_create.add_argument("--role", required=True, choices=["admin", "ml_engineer", "reviewer", "annotator"])
    user_create.add_argument("--password", help="else HITL_NEW_PASSWORD, else asked for")
    user_create.add_argument("--email")
    for action in ("deactivate", "activate"):
        sub = users_sub.add_parser(action, parents=[common], help=f"{action} an account")
        sub.add_argument("user", help="user id or username")
    user_role = users_sub.add_parser("role", parents=[common], help="give a user another role")
    user_role.add_argument("user", help="user id or username")
    user_role.add_argument("role", choices=["admin", "ml_engineer", "reviewer", "annotator"])

    members = command("members", cmd_members, "list, add or remove a project's members (admin)")
    members.add_argument("project", help="project id or name")
    members_sub = members.add_subparsers(dest="members_command", metavar="ACTION")
    members_sub.add_parser("list", parents=[common])
    for action in ("add", "remove"):
        sub = members_sub.add_parser(action, parents=[common])
        sub.add_argument("user", help="user id or username")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("url", None), ("token", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        result: int = args.func(args)
        return result
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"hitl: error: {exc}", file=sys.stderr)
        return 2
    except HitlError as exc:
        print(f"hitl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hitl export 3 | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
