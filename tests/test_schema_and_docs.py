"""The OpenAPI schema at /api/schema/ and the browsable docs at /api/docs/."""
from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.django_db

# API.md's paths implemented so far, as OpenAPI names them, with their methods.
DOCUMENTED = {
    "/api/auth/token/": {"post"},
    "/api/users/": {"post"},
    "/api/projects/": {"get", "post"},
    "/api/projects/{id}/": {"get", "patch"},
    "/api/projects/{id}/members/": {"post"},
    "/api/projects/{id}/import/": {"post"},
    "/api/projects/{id}/items/": {"get"},
    "/api/projects/{id}/next/": {"get"},
    "/api/projects/{id}/export/": {"get"},
    "/api/items/{id}/": {"get"},
    "/api/items/{id}/annotations/": {"post"},
    "/api/jobs/{id}/": {"get"},
}


def test_schema_is_an_openapi_3_document_with_the_documented_paths(as_user, annotator):
    r = as_user(annotator).get("/api/schema/")

    assert r.status_code == 200
    schema = yaml.safe_load(r.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "hitl API"
    for path, methods in DOCUMENTED.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), path


def json_schema(client):
    """The schema as JSON (`?format=` is the export's parameter, so JSON is asked for by Accept)."""
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")


def test_schema_is_served_as_json_on_request(as_user, annotator):
    r = json_schema(as_user(annotator))

    assert r.status_code == 200
    assert set(DOCUMENTED) <= set(r.json()["paths"])


def test_schema_documents_the_query_parameters(as_user, annotator):
    schema = json_schema(as_user(annotator)).json()

    def parameters(path):
        return {p["name"]: p for p in schema["paths"][path]["get"].get("parameters", [])}

    assert set(parameters("/api/projects/{id}/export/")["format"]["schema"]["enum"]) >= {"json", "jsonl", "csv"}
    assert "done" in parameters("/api/projects/{id}/items/")["status"]["schema"]["enum"]
    assert "page" in parameters("/api/projects/{id}/items/")
    assert "exclude" in parameters("/api/projects/{id}/next/")


def test_schema_documents_the_project_defaults(as_user, annotator):
    schema = json_schema(as_user(annotator)).json()

    project = schema["components"]["schemas"]["ProjectRequest"]
    assert set(project["required"]) == {"name", "task_type", "labels"}
    assert {"overlap", "auto_accept_threshold", "escalation_threshold", "escalated_overlap", "audit_rate",
            "strategy", "retrain_every"} <= set(project["properties"])


def test_docs_page_is_html(as_user, annotator):
    r = as_user(annotator).get("/api/docs/")

    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    assert "swagger" in r.content.decode().lower()
    assert "/api/schema/" in r.content.decode()
