"""OpenAI chat messages -> Anthropic ``system`` + ``messages`` (pure data, no I/O).

Anthropic keeps the system prompt out of the message list, knows only the roles ``user``
and ``assistant``, and carries tool calls and tool results as content blocks. So:

* ``system`` (and ``developer``) messages are lifted, wherever they stand, into ``system``:
  one string, or a list of text blocks when any part carries ``cache_control``;
* assistant ``tool_calls`` become ``tool_use`` blocks, ``tool`` messages become ``user``
  messages holding a ``tool_result`` block;
* consecutive messages of the same role are merged into one message;
* OpenAI content parts are converted (``image_url`` -> ``image``/``document``, ``file`` ->
  ``document``); parts already in Anthropic's shape pass through untouched, and a
  ``cache_control`` on a part, or on a whole message (applied to its last block), is kept.
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import BadRequestError

__all__ = ["convert_messages", "convert_parts"]

Block = dict[str, Any]


def _bad(message: str) -> BadRequestError:
    return BadRequestError(message, llm_provider="anthropic", param="messages")


def _data_url(url: str) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL."""
    head, sep, data = url.partition(",")
    meta = head[5:].split(";")
    if not sep or "base64" not in meta[1:] or not meta[0]:
        raise _bad("data: URLs sent to Anthropic must be base64 with a media type, like "
                   "'data:image/png;base64,...'")
    return meta[0], data


def _source_block(url: str) -> Block:
    """An ``image`` (or, for PDFs, ``document``) block for an http(s) or data: URL."""
    if url.startswith("data:"):
        media, data = _data_url(url)
        kind = "image" if media.startswith("image/") else "document"
        return {"type": kind, "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("http://", "https://")):
        kind = "document" if url.lower().split("?", 1)[0].endswith(".pdf") else "image"
        return {"type": kind, "source": {"type": "url", "url": url}}
    raise _bad(f"unsupported image URL {url[:40]!r}: use an http(s) URL or a base64 data: URL")


def _convert_part(part: Any) -> Block | None:
    """One OpenAI content part as an Anthropic block (None for an empty text part)."""
    if isinstance(part, str):
        return {"type": "text", "text": part} if part else None
    if not isinstance(part, dict):
        raise _bad(f"a content part must be a dict, got {type(part).__name__}")
    kind = part.get("type")
    block: Block
    if kind == "text":
        text = part.get("text") or ""
        if not text:
            return None
        block = {"type": "text", "text": text}
    elif kind == "image_url":
        ref = part.get("image_url")
        url = ref.get("url") if isinstance(ref, dict) else ref
        if not isinstance(url, str):
            raise _bad("an image_url part needs image_url.url")
        block = _source_block(url)
    elif kind == "file":
        file = part.get("file") or {}
        data = file.get("file_data")
        if not isinstance(data, str):
            raise _bad("Anthropic needs file parts as file.file_data (a base64 data: URL); "
                       "OpenAI file ids cannot be sent")
        block = _source_block(data)
    elif kind in ("input_audio", "audio"):
        raise _bad("Anthropic does not accept audio input")
    else:
        return dict(part)  # already an Anthropic block (image, document, tool_result ...)
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def convert_parts(content: Any) -> list[Block]:
    """A message's ``content`` (string, list of parts, or None) as Anthropic blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _bad(f"message content must be a string or a list, got {type(content).__name__}")
    return [b for b in (_convert_part(p) for p in content) if b is not None]


def _tool_use(call: Any) -> Block:
    if not isinstance(call, dict):
        dump = getattr(call, "model_dump", None)
        call = dump() if callable(dump) else {}
    fn = call.get("function") or {}
    name, raw = fn.get("name"), fn.get("arguments")
    if not name or not call.get("id"):
        raise _bad("each assistant tool call needs an 'id' and a function 'name'")
    try:
        args = json.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
    except ValueError:
        raise _bad(f"the arguments of tool call {call['id']!r} are not valid JSON: "
                   f"{str(raw)[:80]!r}") from None
    if not isinstance(args, dict):
        raise _bad(f"the arguments of tool call {call['id']!r} must be a JSON object")
    return {"type": "tool_use", "id": call["id"], "name": name, "input": args}


def _assistant_blocks(m: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [dict(b) for b in m.get("thinking_blocks") or ()
                           if isinstance(b, dict)]
    blocks += convert_parts(m.get("content"))
    blocks += [_tool_use(c) for c in m.get("tool_calls") or ()]
    return blocks


def _tool_result(m: dict[str, Any]) -> Block:
    call_id = m.get("tool_call_id")
    if not call_id:
        raise _bad("a 'tool' message needs the 'tool_call_id' of the call it answers")
    content = m.get("content")
    result: Block = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        parts = convert_parts(content)
        if parts:
            result["content"] = parts
    elif content is not None:
        result["content"] = str(content)
    return result


def _blocks_for(m: dict[str, Any], index: int) -> tuple[str, list[Block]]:
    """(Anthropic role, blocks) for one non-system OpenAI message."""
    role = m.get("role")
    if role == "user":
        return "user", convert_parts(m.get("content"))
    if role == "assistant":
        return "assistant", _assistant_blocks(m)
    if role == "tool":
        return "user", [_tool_result(m)]
    if role == "function":
        raise _bad("role 'function' (deprecated by OpenAI) is not supported for Anthropic: "
                   "send tool results as role 'tool' with a 'tool_call_id'")
    raise _bad(f"messages[{index}] has role {role!r}; Anthropic accepts system, user, "
               "assistant and tool")


def _system_blocks(messages: list[dict[str, Any]]) -> tuple[list[Block], bool]:
    """Text blocks of every system/developer message, and whether any is cache-marked."""
    blocks: list[Block] = []
    cached = False
    for m in messages:
        if m.get("role") not in ("system", "developer"):
            continue
        own = [b for b in convert_parts(m.get("content")) if b.get("type") == "text"]
        if own and m.get("cache_control") is not None:
            own[-1]["cache_control"] = m["cache_control"]
        cached = cached or any("cache_control" in b for b in own)
        blocks += own
    return blocks, cached


def _simplify(content: list[Block]) -> str | list[Block]:
    """A lone plain text block reads better (and is identical for the API) as a string."""
    if len(content) == 1 and content[0].get("type") == "text" and len(content[0]) == 2:
        return str(content[0]["text"])
    return content


def _trim_prefill(out: list[dict[str, Any]]) -> None:
    """A trailing assistant turn is a prefill, and the API rejects trailing whitespace there."""
    last = out[-1]
    if last["role"] != "assistant" or last["content"][-1].get("type") != "text":
        return
    block = last["content"][-1]
    block["text"] = block["text"].rstrip()
    if not block["text"]:
        last["content"].pop()
        if not last["content"]:
            out.pop()


def convert_messages(messages: list[dict[str, Any]]
                     ) -> tuple[str | list[Block] | None, list[dict[str, Any]]]:
    """(``system``, ``messages``) for an Anthropic request body.

    Raises :class:`BadRequestError` for a role Anthropic cannot express, a tool call without
    id/name or with non-JSON arguments, an unusable image URL, or no user/assistant message.
    """
    sys_blocks, cached = _system_blocks(messages)
    system: str | list[Block] | None = None
    if sys_blocks:
        system = sys_blocks if cached else "\n\n".join(b["text"] for b in sys_blocks)
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if m.get("role") in ("system", "developer"):
            continue
        role, blocks = _blocks_for(m, i)
        if not blocks:
            continue  # e.g. an assistant turn with empty content: Anthropic rejects those
        if m.get("cache_control") is not None:
            blocks[-1]["cache_control"] = m["cache_control"]
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if out:
        _trim_prefill(out)
    if not out:
        raise _bad("Anthropic needs at least one user or assistant message besides the "
                   "system prompt")
    for m in out:
        m["content"] = _simplify(m["content"])
    return system, out
