"""JSON arrays and JSON Lines, streamed: one element in memory at a time, errors naming the line.

A JSON array is decoded with the standard library's C scanner (`JSONDecoder.raw_decode`) over a
sliding window of the file: about 1 µs per small record, and memory bounded by the window
(`CHUNK` characters) plus the largest single record. JSON Lines go through orjson line by line.
"""
from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import orjson

from dataio.records import RecordError

CHUNK = 1 << 20  # bytes read at a time
MAX_RECORD_CHARS = 64 * 1024 * 1024  # one array element larger than this is refused

_WS = re.compile(r"[ \t\n\r]*")
# A \uD800–\uDFFF escape: the standard library decodes an unpaired one into a string that cannot be
# stored (orjson, which writes the rows, refuses it), so elements near one are checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


class _Window:
    """The part of the file not consumed yet, as text, with where it starts in lines and columns."""

    def __init__(self, stream: BinaryIO, chunk: int):
        self.stream = stream
        self.chunk = chunk
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines in the text already dropped
        self.column_carry = 0  # characters after the last dropped newline
        self.surrogates = False  # the window may hold a \uD8xx escape

    def more(self) -> None:
        """Drop the consumed text and append the next chunk (or note the end of the file)."""
        data = self.stream.read(self.chunk)
        dropped = self.pos
        if dropped:
            newlines = self.text.count("\n", 0, dropped)
            if newlines:
                self.lines_before += newlines
                self.column_carry = dropped - self.text.rfind("\n", 0, dropped) - 1
            else:
                self.column_carry += dropped
        try:
            new = self.decoder.decode(data or b"", final=not data)
        except UnicodeDecodeError as exc:
            line = self.lines_before + self.text.count("\n", dropped) + data[:exc.start].count(b"\n") + 1
            raise RecordError(line, None, "the file is not UTF-8 text", unit="line") from None
        tail = self.text[max(dropped, len(self.text) - 5):]
        self.text = self.text[dropped:] + new
        self.pos = 0
        self.eof = not data
        if _SURROGATE_ESCAPE.search(tail + new):
            self.surrogates = True

    def skip_space(self) -> str:
        """Move past whitespace; the next character, or "" at the end of the file."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]  # matches "" too
            if self.pos < len(self.text):
                return self.text[self.pos]
            if self.eof:
                return ""
            self.more()

    def where(self, pos: int) -> tuple[int, int]:
        """Line and column (both from 1) of `pos` in the window."""
        line = self.lines_before + self.text.count("\n", 0, pos) + 1
        newline = self.text.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self.column_carry + pos + 1
        return line, column

    def error(self, pos: int, message: str) -> RecordError:
        line, column = self.where(pos)
        message = message.removesuffix(" starting at").removesuffix(" at")  # the column says where
        return RecordError(line, None, f"malformed JSON: {message} (column {column})", unit="line")


def iter_array_values(stream: BinaryIO, *, chunk: int = CHUNK,
                      max_record_chars: int = MAX_RECORD_CHARS) -> Iterator[tuple[int, Any]]:
    """(number from 1, element) for each element of the JSON array in `stream`.

    A syntax error raises `RecordError` with unit "line" (e.g. "line 40000: malformed JSON:
    Expecting ',' delimiter (column 17)"); a file that is not an array, record None.
    """
    w = _Window(stream, chunk)
    w.more()
    first = w.skip_space()
    if first == "":
        raise RecordError(1, None, "malformed JSON: the file is empty", unit="line")
    if first != "[":
        if first in '{"-0123456789tfn':
            raise RecordError(None, None, "expected a JSON array of records")
        raise w.error(w.pos, "Expecting value")
    w.pos += 1
    number = 0
    scan = _DECODER.raw_decode
    while True:
        c = w.skip_space()
        if c == "]":
            break
        if number:
            if c == "":
                raise w.error(w.pos, "unexpected end of file; the array is not closed")
            if c != ",":
                raise w.error(w.pos, "Expecting ',' delimiter")
            w.pos += 1
            c = w.skip_space()
        if c == "":
            raise w.error(w.pos, "unexpected end of file; the array is not closed")
        number += 1
        while True:
            try:
                value, end = scan(w.text, w.pos)
            except json.JSONDecodeError as exc:
                # Near the end of the window the element may just be cut off: read on and retry.
                # An unterminated string is reported at its start, however far from the end.
                if not w.eof and (exc.pos >= len(w.text) - 16 or exc.msg.startswith("Unterminated string")):
                    _grow(w, number, max_record_chars)
                    continue
                raise w.error(exc.pos, exc.msg) from None
            except ValueError as exc:  # NaN, Infinity
                raise w.error(w.pos, str(exc)) from None
            except RecursionError:
                raise w.error(w.pos, "nested too deeply") from None
            if end >= len(w.text) and not w.eof:  # a number or literal may go on in the next chunk
                _grow(w, number, max_record_chars)
                continue
            break
        if w.surrogates:
            try:
                orjson.dumps(value)
            except orjson.JSONEncodeError:
                raise w.error(w.pos, "a \\u escape is an unpaired UTF-16 surrogate") from None
        w.pos = end
        yield number, value
    w.pos += 1
    if w.skip_space() != "":
        raise w.error(w.pos, "extra data after the array")


def _grow(w: _Window, number: int, max_record_chars: int) -> None:
    if len(w.text) - w.pos > max_record_chars:
        raise RecordError(number, None, f"is larger than {max_record_chars} characters")
    w.more()


def iter_jsonl_values(lines: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSON Lines stream."""
    loads = orjson.loads
    for number, line in enumerate(lines, start=1):
        try:
            value = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                continue
            raise RecordError(number, None, f"malformed JSON: {exc}", unit="line") from None
        yield number, value
