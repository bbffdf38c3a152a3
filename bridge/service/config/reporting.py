"""The adoption report settings of a [[mailboxes]] entry: whether, on which page, how often, which zone."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from bridge.service.config.rules import ConfigModel, boolean, integer, problem, rule, string, title_path


def default_report_title(page_prefix: str, language: str) -> str:
    """The report page of a space: `Report` under its prefix, `Bericht` for German."""
    return f"{page_prefix}/{'Bericht' if language == 'de' else 'Report'}"


class MailboxReport(ConfigModel):
    """The adoption report on the wiki: whether, on which page, how often, in which time zone."""

    report: Annotated[bool, rule(boolean, "true or false")] = True
    # None: `default_report_title` of the mapping's space (see `MailboxSettings.report_title`).
    report_page: Annotated[str | None, rule(title_path, "a legal page title such as 'Sales/Mail/Report'")] = (
        None
    )
    report_interval: Annotated[
        int, rule(integer(60, 86400 * 31), "seconds between 60 and 2678400 (31 days)")
    ] = 86400
    report_timezone: str = "Europe/Berlin"

    @field_validator("report_timezone", mode="plain")
    @classmethod
    def _zone(cls, value: Any) -> str:
        text = string(value)
        try:
            ZoneInfo(text or "")
        except (ValueError, ZoneInfoNotFoundError):
            raise problem("must be a time zone name such as 'Europe/Berlin' or 'UTC'") from None
        assert text is not None, "ZoneInfo refuses an empty name"
        return text
