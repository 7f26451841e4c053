"""An appellant's files, checked whole before they are stored: a reviewer opens them.

The first bytes (:func:`fairban.appeals.blobs.sniff`) say what a file claims to be; a
polyglot (HTML behind ``%PDF-``, a script after a JPEG's end) passes that. So:

- an image is decoded and re-encoded (Pillow): what is stored is the picture and
  nothing else; no trailing bytes, no metadata (EXIF and its GPS position are dropped,
  its orientation applied first), one frame. A HEIC/HEIF photo (pillow-heif) is stored
  as JPEG, and a photo over the size limit is made smaller (as JPEG) until it fits:
  what phones send is accepted, not refused;
- a PDF must start with ``%PDF-``, parse (pypdf), have a page, not be encrypted, and
  hold no JavaScript, no automatic or interactive action, no embedded file or form
  that submits, and no HTML anywhere in its bytes. It is stored as sent.
"""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image, ImageOps
from pillow_heif import register_heif_opener
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

register_heif_opener()  # Pillow reads HEIC/HEIF (libheif, through pillow-heif)

#: the most pixels an upload may have (a phone's photo has 12-50 million); checked
#: before decoding, so a decompression bomb is refused unread
MAX_PIXELS = 60_000_000
#: the most PDF objects looked at: more than any scan of a few pages has
MAX_PDF_OBJECTS = 200_000
#: what Pillow calls each allowed image type
IMAGE_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/webp": "WEBP",
    "image/heif": "HEIF",
}
#: the type of what is stored, per format written
STORED_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
#: names that make a PDF do something when it is opened or clicked, or carry a file
PDF_ACTIVE = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/AA",
        "/OpenAction",
        "/Launch",
        "/SubmitForm",
        "/ImportData",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/RichMedia",
        "/XFA",
        "/GoToR",
        "/GoToE",
    }
)
#: markup a browser would render: a PDF has none of it (whole tags, so that the random
#: bytes of a compressed stream match about once in 10^4 files of 5 MiB)
HTML = re.compile(
    rb"<(!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|img)[\s/>]"
    rb"|javascript:",
    re.I,
)


class BadUpload(ValueError):  # noqa: N818 (a refusal, not a failure of the code)
    """The file is not what it claims to be, or carries what no evidence needs."""


def checked(data: bytes, kind: str, max_bytes: int) -> tuple[bytes, str]:
    """The bytes to store for an upload of sniffed type ``kind``, and their type: an
    image re-encoded (a HEIF photo as JPEG; one over ``max_bytes`` made smaller until it
    fits), a PDF as sent once checked; :class:`BadUpload` (its reason) else."""
    if kind == "application/pdf":
        _check_pdf(data)
        return data, kind
    if kind in IMAGE_FORMATS:
        return _reencoded(data, IMAGE_FORMATS[kind], max_bytes)
    raise BadUpload(f"not an allowed type: {kind}")


def _reencoded(data: bytes, fmt: str, max_bytes: int) -> tuple[bytes, str]:
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            width, height = image.size
            if fmt == "JPEG" and width * height > MAX_PIXELS:
                # a JPEG decodes at 1/2, 1/4 or 1/8 scale: a 108-megapixel phone photo
                # is read small, never whole
                for scale in (2, 4, 8):
                    if (width // scale) * (height // scale) <= MAX_PIXELS:
                        image.draft("RGB", (width // scale, height // scale))
                        break
                width, height = image.size
            if width * height > MAX_PIXELS:
                raise BadUpload(f"too many pixels: {width}x{height}")
            image.load()
            upright = ImageOps.exif_transpose(image)
    except BadUpload:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise BadUpload(f"not a readable {fmt} image") from e
    out_fmt = "JPEG" if fmt == "HEIF" else fmt  # what every browser and viewer opens
    out = _save(upright, out_fmt)
    if len(out) > max_bytes:  # a phone's large photo: smaller, as a JPEG, until it fits
        out_fmt, side = "JPEG", max(upright.size)
        while len(out) > max_bytes:
            side = int(side * max(0.5, min(0.9, (max_bytes / len(out)) ** 0.5)))
            if side < 64:
                raise BadUpload("cannot be made small enough")
            smaller = upright.copy()
            smaller.thumbnail((side, side), Image.Resampling.LANCZOS)
            out = _save(smaller, out_fmt, quality=85)
    return out, STORED_TYPES[out_fmt]


def _save(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    out = io.BytesIO()
    # no exif=, no icc_profile= ... : nothing but the picture is written
    options: dict[str, Any] = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _check_pdf(data: bytes) -> None:
    if not data.startswith(b"%PDF-"):
        raise BadUpload("a PDF starts with %PDF-")
    if HTML.search(data):
        raise BadUpload("HTML inside a PDF")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise BadUpload("an encrypted PDF")
        if len(reader.pages) == 0:
            raise BadUpload("a PDF without pages")
        _no_active_content(reader.trailer)
    except BadUpload:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise BadUpload("not a readable PDF") from e


def _no_active_content(root: DictionaryObject) -> None:
    """Walk every object reachable from the trailer (streams' dictionaries included,
    not their data) for a name of :data:`PDF_ACTIVE`, as a key or as an action's
    type (``/S /JavaScript``)."""
    seen: set[tuple[int, int]] = set()
    todo: list[Any] = [root]
    looked = 0
    while todo:
        item = todo.pop()
        if isinstance(item, IndirectObject):
            ref = (item.idnum, item.generation)
            if ref in seen:
                continue
            seen.add(ref)
            item = item.get_object()
        looked += 1
        if looked > MAX_PDF_OBJECTS:
            raise BadUpload("a PDF with too many objects")
        if isinstance(item, DictionaryObject):
            for key, value in item.items():
                if key in PDF_ACTIVE:
                    raise BadUpload(f"a PDF with {key}")
                if key == "/S" and isinstance(value, NameObject) and value in PDF_ACTIVE:
                    raise BadUpload(f"a PDF with {value}")
                if key != "/Parent":  # the page tree's way back up: seen already
                    todo.append(value)
        elif isinstance(item, ArrayObject):
            todo.extend(item)
