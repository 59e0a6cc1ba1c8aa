import pytest


@pytest.mark.django_db
def test_project_list(as_user, admin, project):
    r = as_user(admin).get("/api/projects/")
    assert r.status_code == 200
    assert r.json()["results"][0]["name"] == "Reviews"
