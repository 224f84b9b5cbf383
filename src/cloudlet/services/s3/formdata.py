"""multipart/form-data (RFC 7578 over RFC 2046 section 5.1) as S3 reads a
browser POST upload: the fields before the part named `file`, and where
that part's bytes lie; parts after it are ignored, as S3 ignores them.

The body is bytes, or a file the server spooled it to (SpooledBody): the
file part is never read into memory, only scanned for the delimiter that
ends it; the upload then streams from its place in the spool file
(`FileSlice`). The fields before the file may take at most 20 KB, S3's
limit (MaxPostPreDataLengthExceeded).
"""

from __future__ import annotations

import os

from cloudlet.services.s3.common import s3_error

MAX_PRE_DATA = 20480        # bytes of form before the file's content (S3's limit)
_SCAN = 1 << 20             # bytes read at a time when looking for a delimiter
_LWSP = b" \t"


def malformed() -> Exception:
    return s3_error("MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.",
                    400)


def _pre_data_too_large() -> Exception:
    return s3_error("MaxPostPreDataLengthExceeded", "Your POST request fields preceeding the upload file was too "
                    "large.", 400, MaxPostPreDataLengthBytes=MAX_PRE_DATA)


class FileSlice:
    """`size` bytes of a file from `offset`: an upload's body, streamed with
    `chunks()` (what objectdata.chunks_of reads)."""

    __slots__ = ("path", "offset", "size")

    def __init__(self, path: str, offset: int, size: int):
        self.path, self.offset, self.size = path, offset, size

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def chunks(self, size: int = 1 << 20):
        left = self.size
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            while left > 0:
                chunk = fh.read(min(size, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def read(self) -> bytes:
        return b"".join(self.chunks())


class _Bytes:
    """The reader over a body held in memory."""

    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)

    def find(self, needle: bytes, start: int, stop: int | None = None) -> int:
        return self.data.find(needle, start, stop if stop is not None else self.size)

    def read(self, start: int, stop: int) -> bytes:
        return bytes(self.data[start:stop])

    def part(self, start: int, stop: int):
        return memoryview(self.data)[start:stop]

    def close(self) -> None:
        pass


class _File:
    """The reader over a body spooled to a file."""

    def __init__(self, path: str, size: int):
        self.path = path
        self.size = size
        self.fh = open(path, "rb")

    def find(self, needle: bytes, start: int, stop: int | None = None) -> int:
        stop = self.size if stop is None else min(stop, self.size)
        overlap = len(needle) - 1
        pos = start
        fh = self.fh
        while pos < stop:
            fh.seek(pos)
            block = fh.read(min(_SCAN + overlap, stop - pos))
            if not block:
                return -1
            i = block.find(needle)
            if i >= 0:
                return pos + i
            if len(block) <= overlap:
                return -1
            pos += len(block) - overlap
        return -1

    def read(self, start: int, stop: int) -> bytes:
        self.fh.seek(start)
        return self.fh.read(max(0, stop - start))

    def part(self, start: int, stop: int):
        return FileSlice(self.path, start, stop - start)

    def close(self) -> None:
        self.fh.close()


class Form:
    """What a POST form says: its fields in order (name as sent, value),
    and the file part (its filename parameter, None when it had none; its
    bytes: a memoryview or a FileSlice)."""

    def __init__(self):
        self.fields: list[tuple[str, str]] = []
        self.file = None
        self.filename: str | None = None
        self.has_file = False

    def get(self, name: str) -> str | None:
        """A field by name, in any case; repeated fields joined with ","
        (as S3 matches them against a policy)."""
        name = name.lower()
        found = [v for k, v in self.fields if k.lower() == name]
        return ",".join(found) if found else None

    @property
    def file_size(self) -> int:
        return len(self.file) if self.file is not None else 0


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type, unquoted."""
    for param in _params(content_type.split(";", 1)[1] if ";" in content_type else ""):
        if param[0] == "boundary":
            return param[1] or None
    return None


def parse(body, content_type: str) -> Form:
    """Read a POST form (bytes, or a SpooledBody) up to its file part."""
    boundary = boundary_of(content_type)
    if not boundary or len(boundary) > 200:
        raise malformed()
    if hasattr(body, "path"):
        reader = _File(body.path, body.size)
    else:
        reader = _Bytes(bytes(body or b"") if not isinstance(body, (bytes, bytearray)) else body)
    try:
        return _parse(reader, boundary.encode("latin-1", "replace"))
    finally:
        reader.close()


def _parse(reader, boundary: bytes) -> Form:
    form = Form()
    dash = b"--" + boundary
    delimiter = b"\r\n" + dash
    if reader.read(0, len(dash)) == dash:
        pos = len(dash)
    else:  # a preamble, ignored
        at = reader.find(delimiter, 0, MAX_PRE_DATA)
        if at < 0:
            raise _pre_data_too_large() if reader.size > MAX_PRE_DATA else malformed()
        pos = at + len(delimiter)
    while True:
        head = reader.read(pos, pos + 2)
        if head == b"--" or not head:
            return form  # the close delimiter (or the end): no file part
        # transport padding, then CRLF
        line_end = reader.find(b"\r\n", pos, pos + 1024)
        if line_end < 0 or reader.read(pos, line_end).strip(_LWSP):
            raise malformed()
        pos = line_end + 2
        if reader.read(pos, pos + 2) == b"\r\n":
            headers_text, start = b"", pos + 2
        else:
            end = reader.find(b"\r\n\r\n", pos, pos + MAX_PRE_DATA)
            if end < 0:
                raise _pre_data_too_large() if reader.size - pos > MAX_PRE_DATA else malformed()
            headers_text, start = reader.read(pos, end), end + 4
        disposition, name, filename = _disposition(headers_text)
        is_file = disposition == "form-data" and name is not None and name.lower() == "file"
        if not is_file and start > MAX_PRE_DATA:
            raise _pre_data_too_large()
        stop = reader.find(delimiter, start, None if is_file else MAX_PRE_DATA + len(delimiter))
        if stop < 0:
            if not is_file and reader.size > MAX_PRE_DATA:
                raise _pre_data_too_large()
            raise malformed()
        if is_file:
            if start > MAX_PRE_DATA:
                raise _pre_data_too_large()
            form.has_file = True
            form.filename = filename
            form.file = reader.part(start, stop)
            return form  # what follows the file is ignored
        if stop > MAX_PRE_DATA:
            raise _pre_data_too_large()
        if name is not None:
            form.fields.append((name, reader.read(start, stop).decode("utf-8", "replace")))
        pos = stop + len(delimiter)


def _disposition(headers: bytes) -> tuple[str | None, str | None, str | None]:
    """(disposition type, name, filename) of a part's headers."""
    text = headers.decode("utf-8", "replace")
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() != "content-disposition":
            continue
        kind, _, rest = value.partition(";")
        params = dict(_params(rest))
        return kind.strip().lower(), params.get("name"), params.get("filename")
    return None, None, None


def _params(text: str) -> list[tuple[str, str]]:
    """`; a=b; c="d"` -> [(a, b), (c, d)]: names lower-cased, quoted
    strings unquoted (a backslash quotes a following double quote)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t;":
            i += 1
        j = i
        while j < n and text[j] not in "=;":
            j += 1
        name = text[i:j].strip().lower()
        if j >= n or text[j] == ";":
            i = j
            if name:
                out.append((name, ""))
            continue
        j += 1
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == '"':
            j += 1
            value = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n and text[j + 1] == '"':
                    j += 1  # (browsers send a Windows path's backslashes as they are)
                value.append(text[j])
                j += 1
            j += 1
            out.append((name, "".join(value)))
        else:
            k = j
            while k < n and text[k] != ";":
                k += 1
            out.append((name, text[j:k].strip()))
            j = k
        i = j
    return out


def base_name(filename: str) -> str:
    """A browser's file name without any path (after the last / or \\)."""
    return os.path.basename(filename.replace("\\", "/"))
