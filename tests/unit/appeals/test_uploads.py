"""Uploads checked whole: photos re-encoded to the picture alone, PDFs parsed and
refused when they could run anything or hide HTML."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from fairban.appeals.blobs import sniff
from fairban.appeals.uploads import MAX_PIXELS, BadUpload, checked
from tests.support.appeals import PDF, PNG

LIMIT = 5 * 1024 * 1024


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (8, 6), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated a quarter turn
    exif[0x8825] = {2: (22.0, 1.0, 0.0)}  # a GPS latitude
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_a_photo_is_stored_as_its_picture_alone() -> None:
    sent = jpeg_with_gps() + b"<html><script>alert(1)</script></html>"
    stored, kind = checked(sent, "image/jpeg", LIMIT)
    assert kind == "image/jpeg"
    assert b"<html" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif()  # no position, no orientation left to misread
        assert image.size == (6, 8)  # the orientation applied
    assert checked(PNG, "image/png", LIMIT) == (
        PNG,
        "image/png",
    )  # Pillow's own PNG comes back as it was


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 10
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")  # a few kB, billions of bytes
    with pytest.raises(BadUpload, match="too many pixels"):
        checked(out.getvalue(), "image/png", LIMIT)


def with_root(**entries: object) -> bytes:
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=72, height=72)
    for key, value in entries.items():
        writer._root_object[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    writer.write(out)
    return out.getvalue()


def javascript() -> DictionaryObject:
    return DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("1")}
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.4\n<html><body>hi</body></html>", "HTML"),
        (b"<!doctype html><p>x</p>\n" + PDF, "starts with"),
        (with_root(OpenAction=javascript()), "/OpenAction"),
        (
            with_root(Names=DictionaryObject({NameObject("/JavaScript"): javascript()})),
            "/JavaScript",
        ),
        (b"%PDF-1.7\n" + b"1" * 64, "not a readable PDF"),
    ],
)
def test_pdfs_that_could_run_or_hide_html_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(BadUpload, match=reason):
        checked(data, "application/pdf", LIMIT)


def test_a_plain_pdf_is_stored_as_sent() -> None:
    assert checked(PDF, "application/pdf", LIMIT) == (PDF, "application/pdf")


def heic_photo(size: tuple[int, int] = (64, 48)) -> bytes:
    """A HEIC photo as an iPhone sends it (encoded by libheif, through pillow-heif)."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(out, format="HEIF", quality=80)
    return out.getvalue()


def noisy_jpeg(width: int, height: int) -> bytes:
    """A photo of a phone's size: noise does not compress (12 MP: about 12 MB)."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=100)
    return out.getvalue()


def test_a_heic_photo_is_stored_as_a_jpeg() -> None:
    sent = heic_photo()
    assert sniff(sent) == "image/heif"
    stored, kind = checked(sent, "image/heif", LIMIT)
    assert kind == "image/jpeg"
    assert sniff(stored) == "image/jpeg"
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (64, 48)
        assert image.getpixel((10, 10))[0] > 150  # the picture, not a blank


def test_a_photo_over_the_limit_is_made_smaller_not_refused() -> None:
    sent = noisy_jpeg(3000, 2000)
    limit = 1024 * 1024
    assert len(sent) > 2 * limit
    stored, kind = checked(sent, "image/jpeg", limit)
    assert kind == "image/jpeg"
    assert len(stored) <= limit
    with Image.open(io.BytesIO(stored)) as image:
        assert 500 < image.size[0] < 3000  # smaller, still a photo one can read
        assert image.size[0] / image.size[1] == pytest.approx(1.5, rel=0.01)


def test_a_png_over_the_limit_becomes_a_smaller_jpeg() -> None:
    image = Image.frombytes("RGB", (1200, 800), os.urandom(1200 * 800 * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    stored, kind = checked(out.getvalue(), "image/png", 512 * 1024)
    assert kind == "image/jpeg"
    assert len(stored) <= 512 * 1024
