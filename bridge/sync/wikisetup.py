"""Installs and updates the templates the pages use (`setup-wiki`, and on start-up when missing)."""

from __future__ import annotations

import structlog

from bridge.core.render.templates import TEMPLATES, is_shipped_version, template_text
from bridge.errors import WikiError
from bridge.sync.ports import TemplateWiki

log = structlog.get_logger("bridge.sync.wikisetup")


def install_templates(wiki: TemplateWiki, only_missing: bool = False) -> list[str]:
    """Create missing templates and update those still exactly as shipped; return one line each.

    A template an admin restyled is left alone. `only_missing` (used at start-up) skips updates.
    """
    report = []
    for name in TEMPLATES:
        title = f"Template:{name}"
        wanted = template_text(name)
        page = wiki.page_content(title)
        if page is None:
            wiki.create_page(title, wanted, "Install email-wiki-bridge template")
            report.append(f"created  {title}")
        elif page.text.strip() == wanted:
            report.append(f"current  {title}")
        elif only_missing:
            continue
        elif is_shipped_version(name, page.text.strip()):
            try:
                wiki.replace_page(title, wanted, "Update email-wiki-bridge template", page.revision)
            except WikiError as exc:
                if exc.code != "editconflict":
                    raise
                report.append(f"kept     {title} (edited while updating)")
                continue
            report.append(f"updated  {title}")
        else:
            report.append(f"kept     {title} (restyled on the wiki)")
        log.info("template.checked", page=title, outcome=report[-1].split()[0])
    return report
