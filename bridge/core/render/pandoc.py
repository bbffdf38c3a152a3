"""pandoc, run as a subprocess: HTML mail bodies -> pandoc's JSON block tree, one body or many at once.

pandoc sees the HTML only after `tidy` made it well-formed and shallow, as it stalls on deep
broken nesting, and runs under a time limit. Starting pandoc (about 5 ms) costs more than
converting a typical mail body (about 2 ms), so the pass converts each batch's bodies in one run
ahead of rendering (`prepare_html`, on its prefetching thread) and rendering takes the trees
from a small cache; a body not prepared is converted on its own.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pypandoc

from bridge.core.render.tidy import tidy_html
from bridge.errors import MessageError

Block = dict[str, Any]
_MAX_HTML_BYTES = 2_000_000
# Tidied HTML converts in well under a second; this only stops a pandoc bug from stalling a pass.
_PANDOC_SECONDS = 60
# Trees converted ahead of rendering (by the pass's prefetching thread), by hash of the HTML;
# each is taken once, and the oldest go first when bodies converted ahead are never rendered.
_CACHE_ENTRIES = 512
_converted: OrderedDict[str, list[Block]] = OrderedDict()
_cache_lock = threading.Lock()


def html_to_blocks(html: str) -> list[Block]:
    """Parse HTML into pandoc's block list; raise `MessageError` saying why when it cannot.

    A tree `prepare_html` converted ahead is taken from its cache (and dropped from it).
    """
    key = _key(html)
    with _cache_lock:
        cached = _converted.pop(key, None)
    if cached is not None:
        return cached
    return _blocks(_pandoc(_cleaned(html)))


def prepare_html(htmls: Sequence[str]) -> None:
    """Convert several HTML bodies in ONE pandoc run and keep their trees for `html_to_blocks`.

    Starting pandoc costs more than converting a mail body, so the pass converts a batch's
    bodies at once, ahead of rendering. Each body goes in its own `<div>` of a class no mail can
    know; unless the answer is exactly one such div per body, in order, nothing is kept, and each
    body is converted on its own when rendered (as is a body that fails or is too large here).
    """
    documents: dict[str, str] = {}
    for html in htmls:
        key = _key(html)
        with _cache_lock:
            known = key in _converted
        if html.strip() and not known and key not in documents:
            try:
                documents[key] = _cleaned(html)
            except MessageError:
                continue
    if not documents:
        return
    nonce = secrets.token_hex(8)
    joined = "".join(f'<div class="ewb-{nonce}-{i}">{doc}</div>' for i, doc in enumerate(documents.values()))
    try:
        blocks = _blocks(_pandoc(joined))
    except MessageError:
        return
    expected = [f"ewb-{nonce}-{i}" for i in range(len(documents))]
    found = [block["c"][0][1] if block.get("t") == "Div" else None for block in blocks]
    if found != [[name] for name in expected]:
        return
    with _cache_lock:
        for key, block in zip(documents, blocks, strict=True):
            _converted[key] = block["c"][1]
        while len(_converted) > _CACHE_ENTRIES:
            _converted.popitem(last=False)


def _key(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8", "replace")).hexdigest()


def _cleaned(html: str) -> str:
    cleaned = tidy_html(html)
    if len(cleaned.encode("utf-8", "replace")) > _MAX_HTML_BYTES:
        raise MessageError("the HTML body is too large to convert (more than 2 MB)")
    return cleaned


def _pandoc(cleaned: str) -> Any:
    """Run pandoc on tidied HTML; its JSON document."""
    try:
        converted = subprocess.run(
            [pypandoc.get_pandoc_path(), "--sandbox", "--from=html", "--to=json"],
            input=cleaned.encode("utf-8", "replace"),
            capture_output=True,
            timeout=_PANDOC_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MessageError(f"pandoc did not convert the HTML body within {_PANDOC_SECONDS} seconds") from exc
    except OSError as exc:
        raise MessageError(f"pandoc could not be started to convert the HTML body: {exc}") from exc
    if converted.returncode != 0:
        reason = " ".join(converted.stderr.decode("utf-8", "replace").split())[:200]
        raise MessageError(f"pandoc could not convert the HTML body: {reason or converted.returncode}")
    try:
        return json.loads(converted.stdout)
    except ValueError as exc:
        raise MessageError("pandoc's conversion of the HTML body could not be read") from exc


def _blocks(document: Any) -> list[Block]:
    blocks = document.get("blocks", []) if isinstance(document, dict) else []
    return blocks if isinstance(blocks, list) else []
