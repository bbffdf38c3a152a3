"""pandoc, run as a subprocess: HTML mail bodies -> pandoc's JSON block tree, one body or many at once.

pandoc sees the HTML only after `tidy` made it well-formed and shallow, as it stalls on deep
broken nesting, and runs under a time limit. Starting pandoc costs more than converting a
typical mail body (one run per body: 7.7 ms a body on an idle 2-core machine, 26-34 ms under
load; one run for a batch: a fourth of that under the same load), so the pass converts each
batch's bodies in one run ahead of rendering (`prepare_html`, on its prefetching thread) and
rendering takes the trees from a small cache; a body not prepared is converted on its own.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pypandoc

from bridge.core.render.tidy import tidy_html
from bridge.errors import MessageError

Block = dict[str, Any]
# Reads a JSON list of HTML documents from stdin and writes one line per document: its JSON tree,
# or an object naming the error.
_BATCH_SCRIPT = """
local documents = pandoc.json.decode(io.read("a"), false)
for _, html in ipairs(documents) do
  local ok, result = pcall(pandoc.read, html, "html", {}, {})
  if ok then
    io.write(pandoc.write(result, "json"), "\\n")
  else
    io.write(pandoc.json.encode({error = tostring(result)}), "\\n")
  end
end
"""
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
    bodies at once, ahead of rendering: pandoc's Lua interpreter reads each body on its own
    (`pandoc.read` in an empty sandbox), so each tree is exactly the one a run of its own gives.
    A body that fails here, or a run that fails as a whole, is converted alone when rendered.
    """
    documents: dict[str, str] = {}
    for html in htmls:
        key = _key(html)
        with _cache_lock:
            known = key in _converted
        if html.strip() and not known and key not in documents:
            try:
                # What a run of its own reads: the tidied text as UTF-8, unencodable characters replaced.
                documents[key] = _cleaned(html).encode("utf-8", "replace").decode("utf-8")
            except MessageError:
                continue
    if not documents:
        return
    try:
        converted = subprocess.run(
            [pypandoc.get_pandoc_path(), "lua", "-e", _BATCH_SCRIPT],
            input=json.dumps(list(documents.values())).encode("ascii"),
            capture_output=True,
            timeout=_PANDOC_SECONDS,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return
    lines = converted.stdout.splitlines()
    if converted.returncode != 0 or len(lines) != len(documents):
        return
    trees: dict[str, list[Block]] = {}
    for key, line in zip(documents, lines, strict=True):
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "blocks" in document:
            trees[key] = _blocks(document)
    with _cache_lock:
        _converted.update(trees)
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
