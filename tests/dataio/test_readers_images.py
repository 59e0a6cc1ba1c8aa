"""Images: a .zip of images or single image files, stored under MEDIA_ROOT, never outside it.

Pure file handling: no database.
"""
from __future__ import annotations

import io
import os
import struct
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from dataio.readers import ImageStore, ReadOptions, read
from dataio.records import Record, RecordError, Schema

PICTURES = Schema(task_type="classification", labels=["0", "1"])
BOXES = Schema(task_type="boxes", labels=["digit"])


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_URL = "/media/"
    return settings.MEDIA_ROOT


def image_bytes(fmt: str = "PNG", size=(8, 6), mode: str = "RGB", noise: bool = False) -> bytes:
    image = Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode))) if noise else \
        Image.new(mode, size, "white")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def zip_of(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    out.seek(0)
    return out


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit greyscale PNG of width×height pixels (400 million by default) in a few kilobytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    compressed = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", compressed) + chunk(b"IEND", b"")


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def read_zip(archive: io.BytesIO, store: ImageStore, schema: Schema = PICTURES) -> list[Record]:
    return list(read(archive, "images.zip", schema, ReadOptions(), media=store))


def refusal(archive: io.BytesIO, store: ImageStore, schema: Schema = PICTURES) -> RecordError:
    with pytest.raises(RecordError) as info:
        read_zip(archive, store, schema)
    return info.value


# --- what is stored -----------------------------------------------------------------------------

def test_zip_of_images_becomes_records_with_urls_under_media(media):
    archive = zip_of([("digits/", b""), ("digits/0/one.png", image_bytes()), ("two.JPG", image_bytes("JPEG")),
                      ("__MACOSX/digits/._one.png", b"junk"), (".DS_Store", b"junk"), ("digits/.hidden.png", b"x")])
    store = ImageStore()

    first, second = read_zip(archive, store)

    base = f"/media/uploads/{store.batch}/"
    assert first == Record(number=2, data={"image": base + "digits/0/one.png"}, external_id="digits/0/one.png",
                           gold=None, unit="entry")
    assert second == Record(number=3, data={"image": base + "two.jpg"}, external_id="two.JPG", gold=None,
                            unit="entry")
    assert files_under(media) == [f"uploads/{store.batch}/digits/0/one.png", f"uploads/{store.batch}/two.jpg"]
    assert (media / "uploads" / store.batch / "two.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_names_are_sanitised_and_kept_apart(media):
    archive = zip_of([("a b/ca\u0301fe<1>.png", image_bytes()), ("a_b/cafe_1.png", image_bytes()),
                      ("shot.html", image_bytes("PNG"))])
    store = ImageStore()

    records = read_zip(archive, store)

    assert [r.data["image"].rsplit(store.batch + "/")[1] for r in records] == [
        "a_b/cafe_1.png", "a_b/cafe_1-2.png", "shot.png"]  # the stored extension is the real format's
    assert [r.external_id for r in records] == ["a b/ca\u0301fe<1>.png", "a_b/cafe_1.png", "shot.html"]


def test_single_image_upload(media):
    store = ImageStore()

    [record] = read(io.BytesIO(image_bytes("GIF", mode="P")), "Scan 1.gif", BOXES, media=store)

    assert record == Record(number=1, data={"image": f"/media/uploads/{store.batch}/Scan_1.gif"},
                            external_id="Scan 1.gif", gold=None, unit="entry")
    assert files_under(media) == [f"uploads/{store.batch}/Scan_1.gif"]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_every_web_format_is_accepted(media, fmt):
    [record] = read_zip(zip_of([(f"x.{fmt.lower()}", image_bytes(fmt))]), ImageStore())

    assert record.external_id == f"x.{fmt.lower()}"


def test_discard_removes_everything_the_store_wrote(media):
    store = ImageStore()
    read_zip(zip_of([("a.png", image_bytes()), ("b/c.png", image_bytes())]), store)
    assert len(files_under(media)) == 2

    store.discard()

    assert files_under(media) == []


def test_keep_keeps_the_files_and_a_failure_inside_with_discards_them(media):
    with ImageStore() as kept:
        read_zip(zip_of([("a.png", image_bytes())]), kept)
        kept.keep()
    with pytest.raises(RecordError), ImageStore() as failed:
        read_zip(zip_of([("a.png", image_bytes()), ("b.png", b"not an image")]), failed)

    assert files_under(media) == [f"uploads/{kept.batch}/a.png"]


def test_images_need_an_image_project(media):
    with pytest.raises(RecordError) as info:
        read_zip(zip_of([("a.png", image_bytes())]), ImageStore(), Schema(task_type="spans", labels=["X"]))

    assert (info.value.record, info.value.field) == (None, "file")
    assert "spans project takes text, not images" in info.value.message


# --- refusals: each names the entry, and nothing stays ------------------------------------------

def test_non_image_is_refused_and_what_was_written_goes_with_discard(media):
    store = ImageStore()
    archive = zip_of([("ok.png", image_bytes()), ("notes/readme.txt", b"hello"), ("later.png", image_bytes())])

    error = refusal(archive, store)

    assert error.as_dict() == {"entry": 2, "field": "file", "message": error.message}
    assert error.message.startswith("'notes/readme.txt' is not an image")
    store.discard()
    assert files_under(media) == []


def test_damaged_image_is_refused(media):
    broken = bytearray(image_bytes(noise=True, size=(40, 40)))
    broken[-20] ^= 0xFF  # a bad CRC in the image data

    error = refusal(zip_of([("broken.png", bytes(broken))]), ImageStore())

    assert (error.record, error.field) == (1, "file")
    assert "'broken.png' is a damaged image" in error.message


@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "..\\evil.png", "ok/..", "/tmp/hitl-abs-{}.png",
                                  "C:/evil.png", "\\\\server\\share\\evil.png"])
def test_paths_leading_out_of_the_folder_are_refused_before_anything_is_written(media, tmp_path, name):
    name = name.format(uuid.uuid4().hex)
    archive = zip_of([(zipfile.ZipInfo(name), image_bytes())])
    store = ImageStore()

    error = refusal(archive, store)

    assert (error.unit, error.record, error.field) == ("entry", 1, "file")
    assert repr(name) in error.message
    assert files_under(tmp_path) == []  # nothing in media, nothing beside it
    assert not Path(name).is_absolute() or not Path(name).exists()


def test_a_good_entry_before_an_escaping_one_is_removed_by_discard(media, tmp_path):
    store = ImageStore()
    archive = zip_of([("fine.png", image_bytes()), (zipfile.ZipInfo("../../evil.png"), image_bytes())])

    error = refusal(archive, store)
    store.discard()

    assert error.record == 2
    assert files_under(tmp_path) == []
    assert not (tmp_path.parent / "evil.png").exists()


def test_image_bomb_is_refused(media, tmp_path):
    bomb = png_bomb()
    assert len(bomb) < 100_000  # 400 million pixels, compressed tiny

    error = refusal(zip_of([("bomb.png", bomb)]), ImageStore())

    assert (error.unit, error.record, error.field) == ("entry", 1, "file")
    assert error.message.startswith("'bomb.png' ")
    assert "decompression bomb" in error.message
    assert files_under(tmp_path) == []


def test_pixel_limit_is_a_setting(media, settings):
    settings.HITL_MAX_IMAGE_PIXELS = 1000

    error = refusal(zip_of([("small.png", image_bytes(size=(20, 20))), ("big.png", image_bytes(size=(40, 30)))]),
                    ImageStore())

    assert error.record == 2
    assert error.message == "'big.png' is 40×30 pixels; an image may have at most 1000 (a decompression bomb?)"


def test_single_image_bomb_is_refused(media, tmp_path):
    with pytest.raises(RecordError) as info:
        list(read(io.BytesIO(png_bomb()), "bomb.png", PICTURES, media=ImageStore()))

    assert (info.value.unit, info.value.record) == ("entry", 1)
    assert files_under(tmp_path) == []


def test_oversize_entry_is_refused_by_its_declared_size(media, settings, tmp_path):
    settings.HITL_MAX_IMAGE_BYTES = 10_000
    big = image_bytes(size=(100, 100), noise=True)  # about 30 kB of noise: it does not compress
    assert len(big) > 10_000

    error = refusal(zip_of([("small.png", image_bytes()), ("big.png", big)], zipfile.ZIP_STORED), ImageStore())

    assert error.as_dict() == {"entry": 2, "field": "file",
                               "message": f"'big.png' is {len(big)} bytes uncompressed; an image may be at most 10000"}


def test_absurd_compression_ratio_is_refused_as_a_zip_bomb(media, tmp_path):
    archive = zip_of([("zeros.bmp", b"\x00" * (8 * 1024 * 1024))])

    error = refusal(archive, ImageStore())

    assert (error.record, error.field) == (1, "file")
    assert "as only a zip bomb does" in error.message
    assert files_under(tmp_path) == []


def test_a_file_that_is_not_a_zip_is_refused(media):
    error = refusal(io.BytesIO(b"PK\x03\x04 not really"), ImageStore())

    assert (error.record, error.field, error.message) == (None, "file", "is not a valid zip file")


def test_reading_images_needs_a_store(media):
    with pytest.raises(TypeError):
        read(zip_of([]), "images.zip", PICTURES)
