"""The `hitl` command, run as a subprocess against the live server (HITL_URL / HITL_TOKEN)."""
from __future__ import annotations

import json

import pytest

from accounts.models import User
from tasks.models import Item
from tests.conftest import PASSWORD
from tests.sdk.helpers import reviews


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_users_projects_import_export_and_stats(run_cli, admin, project, tmp_path):
    done = run_cli(admin, "users", "create", "dora", "--role", "annotator", "--password", PASSWORD, check=True)
    assert "Created user" in done.stdout and "dora" in done.stdout
    assert User.objects.get(username="dora").role == "annotator"
    listed = json.loads(run_cli(admin, "--json", "users", "list", check=True).stdout)
    assert {"alice", "dora"} <= {u["username"] for u in listed}
    table = run_cli(admin, "users", "list", check=True).stdout.splitlines()
    assert table[0].split() == ["id", "username", "role"] and any("dora" in line for line in table)
    assert "dora: role reviewer" in run_cli(admin, "users", "role", "dora", "reviewer", check=True).stdout
    assert User.objects.get(username="dora").role == "reviewer"

    created = json.loads(run_cli(admin, "projects", "create", "Films", "--task-type", "classification",
                                 "--labels", "pos,neg", "--set", "overlap=2", "--json", check=True).stdout)
    assert created["labels"] == ["pos", "neg"] and created["overlap"] == 2
    assert "Films" in run_cli(admin, "projects", "list", check=True).stdout
    run_cli(admin, "members", "Films", "add", "dora", check=True)

    source = write_jsonl(tmp_path / "reviews.jsonl", reviews(6, gold=2))
    done = run_cli(admin, "import", str(project.id), source, check=True)
    assert "Imported 6" in done.stdout
    csv_source = tmp_path / "more.csv"
    csv_source.write_text("text,sentiment\nsplendid,pos\n")
    done = run_cli(admin, "import", "Reviews", str(csv_source), "--option", "label_column=sentiment", "--json",
                   check=True)
    assert json.loads(done.stdout)["imported"] == 1
    assert Item.objects.filter(project=project).count() == 7

    # To stdout, one JSON record a line; to a file; with filters.
    done = run_cli(admin, "export", str(project.id), check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 7 and records[0]["external_id"] == "r0"
    output = tmp_path / "final.json"
    done = run_cli(admin, "export", str(project.id), "--format", "json", "--only-final", "--output", str(output),
                   check=True)
    assert "Wrote" in done.stderr
    assert [r["external_id"] for r in json.loads(output.read_text())] == ["r0", "r1", None]
    done = run_cli(admin, "export", str(project.id), "--format", "csv", "--status", "done", "--filter", "source=gold",
                   check=True)
    assert len(done.stdout.strip().splitlines()) == 1 + 3

    stats = json.loads(run_cli(admin, "stats", str(project.id), "--json", check=True).stdout)
    assert "agreement" in stats
    pretty = run_cli(admin, "stats", str(project.id), check=True).stdout
    assert "agreement:" in pretty


def test_errors_exit_non_zero_with_the_servers_message(run_cli, admin, annotator, project, tmp_path):
    done = run_cli(annotator, "users", "list")
    assert done.returncode == 1
    assert done.stderr == "hitl: error: 403: Only admins may do this.\n"

    bad = write_jsonl(tmp_path / "bad.jsonl",
                      [{"data": {"text": "ok"}}, {"data": {"text": "x"}, "gold": {"label": "?"}}])
    done = run_cli(admin, "import", str(project.id), bad)
    assert done.returncode == 1
    assert "400: Nothing was imported." in done.stderr and "line 2" in done.stderr
    assert not Item.objects.filter(project=project).exists()

    done = run_cli(admin, "export", "999999")
    assert done.returncode == 1 and "404" in done.stderr
    done = run_cli(None, "stats", str(project.id))
    assert done.returncode == 2 and "hitl login" in done.stderr
    done = run_cli(admin, "import", str(project.id), bad, "--option", "nonsense")
    assert done.returncode == 2


def test_login_stores_the_url_and_token(run_cli, live_server, admin, tmp_path):
    done = run_cli(None, "login", "--url", live_server.url, "--username", "alice", "--password", PASSWORD, check=True)
    assert "Logged in" in done.stdout and "alice" in done.stdout
    config = json.loads((tmp_path / "hitl" / "config.json").read_text())
    assert config["url"] == live_server.url and config["token"]
    assert (tmp_path / "hitl" / "config.json").stat().st_mode & 0o077 == 0
    done = run_cli(None, "whoami", check=True)  # no HITL_TOKEN: the stored token
    assert done.stdout.startswith("alice (admin)")
    done = run_cli(None, "login", "--url", live_server.url, "--username", "alice", "--password", "wrong")
    assert done.returncode == 1 and "Unable to log in" in done.stderr


@pytest.mark.worker
def test_train_activate_prelabel_from_the_command_line(run_cli, admin, ml_engineer, project, worker, tmp_path):
    project.gold_rate = 0.0
    project.save(update_fields=["gold_rate"])
    run_cli(admin, "import", str(project.id), write_jsonl(tmp_path / "r.jsonl", reviews(50, gold=36)), check=True)

    done = run_cli(ml_engineer, "train", str(project.id), check=True)
    assert "succeeded" in done.stdout and "model " in done.stdout
    models = json.loads(run_cli(ml_engineer, "models", str(project.id), "--json", check=True).stdout)
    assert len(models) == 1 and "accuracy" in models[0]["metrics"]
    assert "macro_f1" in run_cli(ml_engineer, "models", str(project.id), check=True).stdout

    done = run_cli(ml_engineer, "activate", str(models[0]["id"]), "--wait", check=True)
    assert f"Activated model {models[0]['id']}" in done.stdout
    done = run_cli(ml_engineer, "prelabel", str(project.id), "--json", check=True)
    job = json.loads(done.stdout)
    assert job["state"] == "succeeded" and job["progress"] == job["total"] > 0
    done = run_cli(ml_engineer, "job", str(job["id"]), check=True)
    assert done.stdout.startswith(f"job {job['id']} (prelabel) succeeded")
    started = json.loads(run_cli(ml_engineer, "train", str(project.id), "--no-wait", "--force", "--json",
                                 check=True).stdout)
    assert started["job"]["state"] in ("pending", "running", "succeeded")
    run_cli(ml_engineer, "job", str(started["job"]["id"]), "--wait", "-q", check=True)
    assert json.loads(run_cli(ml_engineer, "models", str(project.id), "--json", check=True).stdout)[0]["version"] == 2


def test_export_as_a_hugging_face_dataset(run_cli, admin, project, tmp_path):
    datasets = pytest.importorskip("datasets")
    run_cli(admin, "import", str(project.id), write_jsonl(tmp_path / "r.jsonl", reviews(10, gold=10)), check=True)
    target = tmp_path / "ds"
    done = run_cli(admin, "export", str(project.id), "--format", "hf", "--output", str(target), "--test-size", "0.2",
                   check=True)
    assert "Wrote labels" in done.stderr
    loaded = datasets.load_from_disk(str(target))
    assert loaded["train"].num_rows + loaded["test"].num_rows == 10
    done = run_cli(admin, "export", str(project.id), "--format", "hf")
    assert done.returncode == 2 and "--output" in done.stderr
