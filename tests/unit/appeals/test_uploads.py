"""Uploads checked whole: photos re-encoded to the picture alone, PDFs parsed and
refused when they could run anything or hide HTML."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from fairban.appeals.uploads import MAX_PIXELS, BadUpload, checked
from tests.support.appeals import PDF, PNG


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
    stored = checked(sent, "image/jpeg")
    assert b"<html" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif()  # no position, no orientation left to misread
        assert image.size == (6, 8)  # the orientation applied
    assert checked(PNG, "image/png") == PNG  # Pillow's own PNG comes back as it was


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 10
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")  # a few kB, billions of bytes
    with pytest.raises(BadUpload, match="too many pixels"):
        checked(out.getvalue(), "image/png")


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
        checked(data, "application/pdf")


def test_a_plain_pdf_is_stored_as_sent() -> None:
    assert checked(PDF, "application/pdf") == PDF
