"""Files a call uploads (the audio of a transcription): read once into an
:class:`AudioFile`, whatever form the caller passed.

LiteLLM and the OpenAI SDK accept a path, an open binary file, raw bytes, or a tuple
``(filename, content[, content_type])``; the provider sends the bytes as a multipart
upload. Callbacks see the file's name, size and content type, never its bytes
(``model_dump()``), and cache keys use a digest of the bytes.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from typing import Any

from .exceptions import BadRequestError

__all__ = ["AudioFile", "read_upload"]

_TYPES = {".mp3": "audio/mpeg", ".mpga": "audio/mpeg", ".m4a": "audio/mp4", ".mp4": "audio/mp4",
          ".wav": "audio/wav", ".webm": "audio/webm", ".ogg": "audio/ogg", ".flac": "audio/flac",
          ".mpeg": "audio/mpeg", ".oga": "audio/ogg"}


class AudioFile:
    """An uploaded file: ``name``, ``data`` (bytes) and ``content_type``."""

    __slots__ = ("content_type", "data", "name")

    def __init__(self, name: str, data: bytes, content_type: str | None = None) -> None:
        self.name = name or "audio"
        self.data = data
        ext = os.path.splitext(self.name)[1].lower()
        self.content_type = (content_type or _TYPES.get(ext)
                             or mimetypes.guess_type(self.name)[0]
                             or "application/octet-stream")

    def model_dump(self) -> dict[str, Any]:
        """What callbacks and cache keys see: never the bytes themselves."""
        return {"filename": self.name, "bytes": len(self.data),
                "content_type": self.content_type,
                "sha256": hashlib.sha256(self.data).hexdigest()}

    def __repr__(self) -> str:
        return f"AudioFile({self.name!r}, {len(self.data)} bytes, {self.content_type})"

    __str__ = __repr__


def _content(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, os.PathLike)):
        with open(value, "rb") as f:
            return f.read()
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, str):
            raise BadRequestError("`file` must be opened in binary mode ('rb')", param="file")
        return bytes(data)
    raise BadRequestError(f"`file` must be a path, bytes, a binary file or a (name, content) "
                          f"tuple, got {type(value).__name__}", param="file")


def read_upload(file: Any) -> AudioFile:
    """``file`` as an :class:`AudioFile`; raises BadRequestError for anything else (and
    OSError for a path that cannot be read)."""
    if isinstance(file, AudioFile):
        return file
    if isinstance(file, tuple) and 2 <= len(file) <= 4:
        name, content = file[0], file[1]
        ctype = file[2] if len(file) > 2 else None
        return AudioFile(str(name or "audio"), _content(content), ctype)
    if isinstance(file, (str, os.PathLike)):
        return AudioFile(os.path.basename(os.fspath(file)), _content(file))
    name = getattr(file, "name", None)
    name = os.path.basename(name) if isinstance(name, str) else "audio"
    return AudioFile(name, _content(file))
