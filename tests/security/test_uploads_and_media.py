"""Uploads through the HTTP API stay inside MEDIA_ROOT and are checked for type and size; /media/
serves images of one's own projects only, never leaves MEDIA_ROOT, and needs a login."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tasks.models import Item
from tests.security.conftest import IMAGE_PATH, World, png_bytes

pytestmark = pytest.mark.django_db

SENTINEL = b"\x89PNG not for your eyes"


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries:
            archive.writestr(zipfile.ZipInfo(name), content)  # ZipInfo keeps the name exactly as given
    return out.getvalue()


def upload(world: World, name: str, content: bytes, persona: str = "admin"):
    return world.api(persona).post(f"/api/projects/{world.project.pk}/import/",
                                   {"file": SimpleUploadedFile(name, content)}, format="multipart")


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def outside(media_root: Path) -> Path:
    """The folder around MEDIA_ROOT, with a secret next to it."""
    (media_root.parent / "secret.png").write_bytes(SENTINEL)
    return media_root.parent


@pytest.fixture
def snapshot(world, outside):
    """Every file under the folder around MEDIA_ROOT, before the test's request."""
    return files_under(outside)


def nothing_new_outside(outside: Path, media_root: Path, before: set[Path]) -> None:
    new = files_under(outside) - before
    escaped = [p for p in new if not p.resolve().is_relative_to(media_root.resolve())]
    assert not escaped, f"files written outside MEDIA_ROOT: {escaped}"


# --- uploads --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "/tmp/evil.png", "C:\\evil.png",
                                  "..\\..\\evil.png"])
def test_a_zip_entry_that_leads_out_of_the_folder_is_refused(world, media_root, outside, snapshot, name):
    items_before = Item.objects.count()

    r = upload(world, "pictures.zip", zip_of([("fine.png", png_bytes()), (name, png_bytes())]))

    assert r.status_code == 400
    assert "entry 2" in str(r.json()) and ("absolute" in str(r.json()) or "out of the folder" in str(r.json()))
    assert Item.objects.count() == items_before
    nothing_new_outside(outside, media_root, snapshot)
    assert not (media_root / "uploads").exists() or not files_under(media_root / "uploads")  # nothing left


def test_an_uploaded_file_name_with_a_path_is_stored_under_media_by_its_last_part(world, media_root, outside,
                                                                                  snapshot):
    r = upload(world, "../../escape.png", png_bytes())

    assert r.status_code == 201
    nothing_new_outside(outside, media_root, snapshot)
    stored = files_under(media_root / "uploads")
    assert len(stored) == 1 and next(iter(stored)).name == "escape.png"


def test_a_file_that_is_not_an_image_is_refused(world, media_root, outside, snapshot):
    page = b"<html><script>alert(1)</script></html>"

    r = upload(world, "pictures.zip", zip_of([("x.png", page)]))
    single = upload(world, "x.png", page)

    assert r.status_code == 400 and "is not an image" in str(r.json())
    assert single.status_code == 400 and "is not an image" in str(single.json())
    nothing_new_outside(outside, media_root, snapshot)
    assert not (media_root / "uploads").exists() or not files_under(media_root / "uploads")


def test_an_image_is_stored_with_the_extension_of_what_it_really_is(world, media_root):
    r = upload(world, "pictures.zip", zip_of([("page.html", png_bytes())]))

    assert r.status_code == 201
    [stored] = files_under(media_root / "uploads")
    assert stored.name == "page.png"  # never served as HTML


def test_an_image_over_the_size_limit_is_refused(world, media_root, outside, snapshot, settings):
    settings.HITL_MAX_IMAGE_BYTES = 200

    r = upload(world, "big.png", png_bytes((300, 300)))
    in_zip = upload(world, "pictures.zip", zip_of([("big.png", png_bytes((300, 300)))]))

    assert r.status_code == 400 and "may be at most 200" in str(r.json())
    assert in_zip.status_code == 400 and "may be at most 200" in str(in_zip.json())
    nothing_new_outside(outside, media_root, snapshot)


def test_an_upload_over_the_request_limit_is_refused_with_413(world, media_root, outside, snapshot, settings):
    settings.HITL_MAX_UPLOAD = 10_000

    r = upload(world, "pictures.zip", zip_of([(f"{i}.png", png_bytes((64, 64))) for i in range(40)]) + b"\0" * 20_000)

    assert r.status_code == 413
    nothing_new_outside(outside, media_root, snapshot)


def test_only_admins_upload(world, media_root):
    for persona, status in (("annotator", 403), ("ml_engineer", 403), ("outsider_annotator", 404),
                            ("anonymous", 401)):
        assert upload(world, "x.png", png_bytes(), persona).status_code == status, persona
    assert not (media_root / "uploads").exists()


# --- serving --------------------------------------------------------------------------------------

ESCAPES = [
    "/media/../secret.png",
    "/media/%2e%2e/secret.png",
    "/media/%2E%2E/secret.png",
    "/media/..%2fsecret.png",
    "/media/%2e%2e%2fsecret.png",
    "/media/sec/../../secret.png",
    "/media/sec/%2e%2e/%2e%2e/secret.png",
    "/media/%252e%252e/secret.png",
    "/media//" + "{outside}/secret.png",
    "/media/%2F{outside}/secret.png",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_media_never_leaves_media_root(world, outside, path):
    # As an admin: no membership check stands in the way, only the confinement to MEDIA_ROOT.
    r = world.api("admin").get(path.format(outside=str(outside).lstrip("/")))

    assert r.status_code in (400, 404), r.status_code
    body = b"".join(r.streaming_content) if getattr(r, "streaming", False) else r.content
    assert SENTINEL not in body


def test_media_serves_the_image_to_members(world):
    r = world.api("annotator").get(f"/media/{IMAGE_PATH}")

    assert r.status_code == 200
    assert b"".join(r.streaming_content) == png_bytes()
    assert r["Content-Type"] == "image/png"
    assert r["X-Content-Type-Options"] == "nosniff"


def test_media_needs_a_login(world):
    assert world.api("anonymous").get(f"/media/{IMAGE_PATH}").status_code == 401
    assert world.browser("anonymous").get(f"/media/{IMAGE_PATH}").status_code == 401


def test_media_of_another_project_is_not_found(world):
    assert world.api("outsider_annotator").get(f"/media/{IMAGE_PATH}").status_code == 404
    assert world.browser("outsider_reviewer").get(f"/media/{IMAGE_PATH}").status_code == 404


def test_media_that_no_item_shows_is_only_for_admins(world, media_root):
    (media_root / "sec" / "loose.png").write_bytes(png_bytes())

    assert world.api("annotator").get("/media/sec/loose.png").status_code == 404
    assert world.api("admin").get("/media/sec/loose.png").status_code == 200


@pytest.mark.parametrize("persona", ["admin", "ml_engineer", "annotator", "outsider_ml_engineer"])
def test_trained_models_and_stored_imports_are_never_served(world, media_root, persona):
    # Model files sit at a predictable path under MEDIA_ROOT; before, any signed-in user could fetch them.
    model = f"models/project-{world.project.pk}/v1.joblib"
    assert (media_root / model).exists()
    stored_import = media_root / "imports" / "abc" / "records.csv"
    stored_import.parent.mkdir(parents=True)
    stored_import.write_text("text\nconfidential\n")

    assert world.api(persona).get(f"/media/{model}").status_code == 404
    assert world.api(persona).get("/media/imports/abc/records.csv").status_code == 404
