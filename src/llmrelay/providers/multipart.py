"""``multipart/form-data`` request bodies (RFC 7578), for uploads such as audio files.

Pure encoding, no I/O: fields are written as text parts, files as parts with a filename
and content type. The boundary is random and checked against the content so it can never
appear inside a part.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["encode_multipart"]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_multipart(fields: Iterable[tuple[str, Any]],
                     files: Iterable[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    """``(body, content_type)`` for text ``fields`` (name, value; None values skipped)
    and ``files`` (field name, filename, bytes, content type)."""
    fields = [(n, _text(v)) for n, v in fields if v is not None]
    files = list(files)
    while True:
        boundary = f"llmrelay-{os.urandom(12).hex()}"
        marker = boundary.encode()
        if not any(marker in data for _, _, data, _ in files) and not any(
                boundary in v for _, v in fields):
            break
    out: list[bytes] = []
    for name, value in fields:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"'
                   f"\r\n\r\n".encode())
        out.append(value.encode("utf-8") + b"\r\n")
    for name, filename, data, ctype in files:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
                   f'filename="{_quote(filename)}"\r\nContent-Type: {ctype}\r\n\r\n'.encode())
        out.append(data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"
