"""email-wiki-bridge: publishes team mailboxes as thread pages on a MediaWiki."""

__version__ = "0.1.0"
