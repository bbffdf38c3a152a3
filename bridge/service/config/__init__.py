"""TOML configuration -> validated, frozen pydantic settings; secrets read from files or the environment.

Every problem is collected before reporting, each naming its key (`mailboxes[1].port: …`), so an
admin fixes the file in one round. `loading` reads the file, `models` and `mailbox` hold the
settings, `secrets` reads passwords, `rules` the shared checks.
"""

from bridge.service.config.loading import load_settings
from bridge.service.config.mailbox import (
    AfterPublish,
    MailAction,
    MailboxAccount,
    MailboxActions,
    MailboxAuth,
    MailboxPolling,
    MailboxReplies,
    MailboxSenders,
    MailboxSettings,
    MailboxSpace,
    Security,
)
from bridge.service.config.models import (
    LogFormat,
    LogSettings,
    ServiceSettings,
    Settings,
    SmtpSettings,
    StateSettings,
    WikiAuth,
    WikiSettings,
)
from bridge.service.config.organisation import OrganisationSettings, PeopleFile
from bridge.service.config.routes import ExternalReply, MailboxRedaction, MailboxRoute, ReplyMode, Unrouted
from bridge.service.config.rules import Secret, toml_keys
from bridge.service.config.tls import TlsSettings

__all__ = [
    "AfterPublish",
    "ExternalReply",
    "LogFormat",
    "LogSettings",
    "MailAction",
    "MailboxAccount",
    "MailboxActions",
    "MailboxAuth",
    "MailboxPolling",
    "MailboxRedaction",
    "MailboxReplies",
    "MailboxRoute",
    "MailboxSenders",
    "MailboxSettings",
    "MailboxSpace",
    "OrganisationSettings",
    "PeopleFile",
    "ReplyMode",
    "Secret",
    "Security",
    "ServiceSettings",
    "Settings",
    "SmtpSettings",
    "StateSettings",
    "TlsSettings",
    "Unrouted",
    "WikiAuth",
    "WikiSettings",
    "load_settings",
    "toml_keys",
]
