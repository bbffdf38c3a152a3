"""The wiki templates the rendered pages use (pure definitions; `setup-wiki` installs them).

Admins may restyle them on the wiki: the bridge only (re)writes a template that is missing or
still exactly a version it shipped itself.
"""

from __future__ import annotations

# One header line of a message: `{{Ewb field|label|value}}`. Short and positional, as it is
# written three or four times per message; values escape `=` (see `escape.escape_argument`).
# Pages of earlier versions call `Email-wiki-bridge field` (named `label` and `value`), which
# stays on the wikis they were written to.
FIELD_TEMPLATE = "Ewb field"
_VERSION_MARK = "<!-- email-wiki-bridge template v{version} -->"

TEMPLATES: dict[str, tuple[int, str]] = {
    FIELD_TEMPLATE: (
        1,
        '<div class="ewb-field"><span class="ewb-field-label" style="font-weight: bold;">'
        "{{{1}}}:</span> {{{2}}}</div>"
        "<noinclude>\nOne header line of a mail published by email-wiki-bridge "
        "(parameters: 1 = label, 2 = value). Restyle freely; the bridge then leaves this page alone.\n"
        "</noinclude>",
    ),
}


def template_text(name: str) -> str:
    """Return the wikitext the bridge ships for template `name`, with its version mark."""
    version, body = TEMPLATES[name]
    return f"{body}{_VERSION_MARK.format(version=version)}"


def is_shipped_version(name: str, text: str) -> bool:
    """Tell whether `text` is a version of the template the bridge wrote, untouched by admins."""
    version, _ = TEMPLATES[name]
    return any(text == _shipped(name, older) for older in range(1, version + 1))


def _shipped(name: str, version: int) -> str:
    # Only the current body is kept here; older versions differ in their mark alone so far.
    _, body = TEMPLATES[name]
    return f"{body}{_VERSION_MARK.format(version=version)}"
