"""docker-compose.yml describes a production deployment: five services, one configuration, no debug."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
SHARED_SETTINGS = ("DATABASE_URL", "REDIS_URL")
TRUE = {"1", "true", "yes", "on"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def environment(service: dict) -> dict[str, str]:
    """A service's environment as a dict, whichever of compose's two spellings it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def test_it_has_the_five_services(compose):
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(compose["services"])


def test_web_worker_and_beat_share_database_and_broker(compose):
    envs = {name: environment(compose["services"][name]) for name in APP_SERVICES}
    for setting in SHARED_SETTINGS:
        values = {name: env.get(setting) for name, env in envs.items()}
        assert None not in values.values(), f"{setting} missing: {values}"
        assert len(set(values.values())) == 1, f"{setting} differs: {values}"
    assert "@postgres:" in envs["web"]["DATABASE_URL"]
    assert envs["web"]["REDIS_URL"].startswith("redis://redis:")


def test_web_worker_and_beat_share_the_secret_key(compose):
    services = compose["services"]
    envs = {name: environment(services[name]) for name in APP_SERVICES}
    if all("SECRET_KEY_FILE" in env for env in envs.values()):
        assert len({env["SECRET_KEY_FILE"] for env in envs.values()}) == 1
        secret = envs["web"]["SECRET_KEY_FILE"].rsplit("/", 1)[-1]
        assert secret in compose.get("secrets", {}), "the SECRET_KEY_FILE secret is not declared"
        for name in APP_SERVICES:
            mounted = [s if isinstance(s, str) else s.get("source") for s in services[name].get("secrets", [])]
            assert secret in mounted, f"{name} does not mount the {secret} secret"
    else:
        values = {name: env.get("SECRET_KEY") for name, env in envs.items()}
        assert None not in values.values() and len(set(values.values())) == 1, values


def test_debug_is_off_everywhere(compose):
    for name, service in compose["services"].items():
        debug = environment(service).get("DEBUG", "0").strip().lower()
        assert debug not in TRUE, f"{name} runs with DEBUG={debug}"


def web_command(compose) -> str:
    command = compose["services"]["web"]["command"]
    return command if isinstance(command, str) else " ".join(command)


def granian_argv(text: str) -> list[str]:
    """The web server's arguments in a shell command line (compose's `$$` is a `$` for the shell)."""
    return text.replace("$$", "$").split("exec granian", 1)[1].split()


def test_web_migrates_and_collects_static_before_serving(compose):
    text = web_command(compose)
    assert text.index("migrate") < text.index("collectstatic") < text.index("exec granian --interface wsgi")


def test_the_web_server_serves_the_wsgi_app_with_the_configured_processes_and_threads(compose):
    argv = granian_argv(web_command(compose))
    options = dict(zip(argv[::2], argv[1::2], strict=False))
    assert argv[-1] == "hitl.wsgi:application"
    assert options["--interface"] == "wsgi"
    assert (options["--host"], options["--port"]) == ("0.0.0.0", "8000")
    assert options["--workers"] == "${WEB_CONCURRENCY:-2}"
    assert options["--blocking-threads"] == "${WEB_THREADS:-4}"
    assert "--access-log" in argv


def test_the_image_runs_the_web_server_as_compose_does(compose):
    """`docker run` of the bare image serves the app exactly as the compose file's web service."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = dockerfile[dockerfile.rindex("\nCMD "):].replace("\\\n", "")
    assert granian_argv(cmd.rstrip().rstrip(']"')) == granian_argv(web_command(compose))


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "/healthz/" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_worker_sees_the_files_the_web_app_stores(compose):
    # Large imports are written to MEDIA_ROOT by the web app and read by the worker.
    def mounts(name):
        return {v.split(":")[1] for v in compose["services"][name].get("volumes", []) if isinstance(v, str)}

    media_root = environment(compose["services"]["web"]).get("MEDIA_ROOT")
    assert media_root and media_root in mounts("web") & mounts("worker")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in compose["services"]["postgres"]["volumes"])


def test_the_image_runs_as_a_non_root_user():
    users = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_postgres_is_sized_for_a_million_items_and_the_benchmarks_use_the_same(compose):
    """The production PostgreSQL keeps more than its default 128 MB of pages and checkpoints less often than every
    1 GB of WAL; the benchmarks' PostgreSQL starts with exactly these settings."""
    from bench.stack import production_postgres_settings

    command = compose["services"]["postgres"]["command"]
    settings = production_postgres_settings()
    assert command[0] == "postgres"
    assert settings == {"shared_buffers": "1GB", "max_wal_size": "4GB"}
    assert [f"{flag} {value}" for flag, value in zip(command[1::2], command[2::2], strict=True)] == \
        [f"-c {name}={value}" for name, value in settings.items()]


def test_the_benchmarks_run_the_web_server_as_compose_does():
    """The benchmarks' web tier is the production command, on loopback, with their own counts and no access log."""
    from bench.stack import production_web_argv

    assert production_web_argv(8123, workers=3, threads=5) == [
        "--interface", "wsgi", "--host", "127.0.0.1", "--port", "8123", "--workers", "3", "--blocking-threads", "5",
        "--no-ws", "hitl.wsgi:application"]
