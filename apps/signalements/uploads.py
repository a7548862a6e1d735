"""Limits on attachments enforced while the request streams (security, issue 17 finding 5).

`AttachmentLimits` is the first upload handler of the signalement API: a request whose
declared length exceeds what the allowed attachments can weigh is refused before a byte of
it is read; a file growing past the size limit, or one file too many, stops the parsing at
once (the temporary files already written are closed and removed by Django's parser). The
files go to temporary files, never to memory.
"""

from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _

from . import services

# The form fields beside the files (shape, comment…) and the multipart boundaries.
FORM_MARGIN_BYTES = 1024 * 1024
MAX_REQUEST_BYTES = services.MAX_ATTACHMENTS * services.MAX_ATTACHMENT_BYTES + FORM_MARGIN_BYTES


class RequestTooLarge(services.Refused):
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
                    "n": services.MAX_ATTACHMENTS,
                    "max": services.MAX_ATTACHMENT_BYTES // 2**20,
                },
                "attachments",
            )

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.files += 1
        if self.files > services.MAX_ATTACHMENTS:
            raise services.Refused(services.too_many(), "attachments")

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > services.MAX_ATTACHMENT_BYTES:
            raise services.Refused(services.too_large(self.file_name), "attachments")
        return raw_data  # on to the temporary-file handler

    def file_complete(self, file_size):
        return None
