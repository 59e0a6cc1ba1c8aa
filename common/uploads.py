"""Uploads go to disk as they arrive, and stop at the size limit instead of filling the disk."""
from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from common.parsers import BodyTooLarge


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Every upload streamed to a temporary file; more than HITL_MAX_UPLOAD bytes in one request is refused."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        limit = settings.HITL_MAX_UPLOAD
        if content_length and content_length > limit + 1024 * 1024:  # headroom for the multipart framing
            raise BodyTooLarge(f"The upload is {content_length} bytes; uploads may be at most {limit} bytes.")
        return super().handle_raw_input(input_data, META, content_length, boundary, encoding)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.HITL_MAX_UPLOAD:
            self.file.close()
            raise BodyTooLarge(f"The upload exceeds {settings.HITL_MAX_UPLOAD} bytes; uploads may be at most "
                               f"{settings.HITL_MAX_UPLOAD} bytes.")
        return super().receive_data_chunk(raw_data, start)
