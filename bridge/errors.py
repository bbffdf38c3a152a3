"""The project's own exception types: one base, a few kinds that callers act on differently.

Every message is a sentence a user can read; details for operators go to the logs, never secrets.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """The configuration is unusable; carries every problem found, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class MailboxError(BridgeError):
    """The IMAP server could not be reached, refused the login or failed a command."""


class WikiError(BridgeError):
    """The wiki refused a request; `code` is the Action API error code when there is one."""

    def __init__(self, message: str, code: str = "") -> None:
        self.code = code
        super().__init__(message)


class WikiUnavailableError(WikiError):
    """The wiki cannot take writes right now (down, lagged, read-only); retry on a later pass."""


class MessageError(BridgeError):
    """One mail cannot be published (unparseable, refused by the wiki); the others go on."""


class StateError(BridgeError):
    """The state store is unusable (wrong schema version, unreadable file)."""


class WikiRefusedError(WikiError):
    """The wiki refused this particular content for good (too big, blocked by a filter)."""


class MailError(BridgeError):
    """The SMTP server refused a reply or could not be reached.

    `permanent` is set for a 5xx answer about this mail or recipient: retrying cannot help.
    """

    def __init__(self, message: str, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


class MailUncertainError(MailError):
    """The connection broke after the reply's data went to the SMTP server, before its answer.

    The server may have taken the mail: sending it again could give someone the reply twice.
    """


class ForgetError(BridgeError):
    """Forgetting cannot go ahead safely (missing wiki rights, a page whose blocks were edited apart)."""
