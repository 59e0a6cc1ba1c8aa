"""JSON request parsing: fast (orjson) and bounded, so a huge body is refused before it is read."""
from __future__ import annotations

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from common.errors import TooLarge


class BodyTooLarge(TooLarge):
    pass


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"] if parser_context else None
        limit = settings.HITL_MAX_JSON_BODY
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        if length > limit:
            raise BodyTooLarge(
                f"The request body is {length} bytes; JSON bodies may be at most {limit} bytes. "
                "Upload large imports as a .jsonl file instead."
            )
        if stream is None:
            raise ParseError("Malformed JSON: the body is empty.")
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise BodyTooLarge(f"JSON bodies may be at most {limit} bytes.")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
