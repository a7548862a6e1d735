"""Attachments: what a signalement may carry (images and PDF, checked from their bytes),
stored under random names; and the limits enforced while the request streams (security,
issue 17 finding 5).

`AttachmentLimits` is the first upload handler of the signalement API: a request whose
declared length exceeds what the allowed attachments can weigh is refused before a byte of
it is read; a file growing past the size limit, or one file too many, stops the parsing at
once (the temporary files already written are closed and removed by Django's parser). The
files go to temporary files, never to memory.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from io import BytesIO

from django.core.files.base import File
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from .errors import Refused
from .models import Attachment

MAX_ATTACHMENTS = 4
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024


@dataclass
class Upload:
    """An attachment as received: its name and either a seekable file (the request's upload,
    streamed to a temporary file) or bytes (scripts, tests). Never read whole into memory:
    checks read its first bytes, storage copies it in chunks."""

    name: str
    content: bytes | None = None
    file: object = None

    def open(self):
        stream = self.file if self.file is not None else BytesIO(self.content)
        stream.seek(0)
        return stream

    @property
    def size(self) -> int:
        if self.file is None:
            return len(self.content)
        return self.file.size


def sniff(content: bytes) -> str | None:
    """Content type from the bytes themselves (never from the name)."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def too_large(name: str) -> str:
    return _("« %(name)s » dépasse %(mb)d Mo.") % {
        "name": name,
        "mb": MAX_ATTACHMENT_BYTES // 2**20,
    }


def too_many() -> str:
    return _("%(n)d pièces jointes au plus par signalement.") % {"n": MAX_ATTACHMENTS}


def check_uploads(uploads: list[Upload], already: int = 0) -> list[tuple[Upload, str]]:
    if already + len(uploads) > MAX_ATTACHMENTS:
        raise Refused(too_many(), "attachments")
    checked = []
    for upload in uploads:
        if upload.size > MAX_ATTACHMENT_BYTES:
            raise Refused(too_large(upload.name), "attachments")
        kind = sniff(upload.open().read(16))
        if kind is None:
            raise Refused(
                _("« %(name)s » n'est ni une image (JPEG, PNG, WebP) ni un PDF.")
                % {"name": upload.name},
                "attachments",
            )
        if kind.startswith("image/"):
            _verify_image(upload)
        checked.append((upload, kind))
    return checked


def _verify_image(upload: Upload):
    try:
        with Image.open(upload.open()) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise Refused(
            _("« %(name)s » est une image illisible.") % {"name": upload.name}, "attachments"
        ) from exc


def store(signalement, user, upload: Upload, kind: str):
    attachment = Attachment(
        signalement=signalement,
        name=upload.name[:200],
        content_type=kind,
        size=upload.size,
        uploaded_by=user,
    )
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
        kind, "webp"
    )
    # A random name (never the uploader's, never guessable); served only through the
    # scoped view `signalements:attachment`, never as a public media URL.
    attachment.file.save(f"{secrets.token_hex(16)}.{extension}", File(upload.open()), save=False)
    attachment.save()
    return attachment


# The form fields beside the files (shape, comment…) and the multipart boundaries.
FORM_MARGIN_BYTES = 1024 * 1024
MAX_REQUEST_BYTES = MAX_ATTACHMENTS * MAX_ATTACHMENT_BYTES + FORM_MARGIN_BYTES


class RequestTooLarge(Refused):
    status = 413


class AttachmentLimits(FileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.files = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > MAX_REQUEST_BYTES:
            raise RequestTooLarge(
                _("Requête de %(mb).0f Mo : %(n)d pièces jointes de %(max)d Mo au plus.")
                % {
                    "mb": content_length / 2**20,
                    "n": MAX_ATTACHMENTS,
                    "max": MAX_ATTACHMENT_BYTES // 2**20,
                },
                "attachments",
            )

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.files += 1
        if self.files > MAX_ATTACHMENTS:
            raise Refused(too_many(), "attachments")

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > MAX_ATTACHMENT_BYTES:
            raise Refused(too_large(self.file_name), "attachments")
        return raw_data  # on to the temporary-file handler

    def file_complete(self, file_size):
        return None
