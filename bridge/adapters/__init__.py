"""Adapters: one module per protocol (IMAP, MediaWiki, SMTP, OAuth, the state store); all I/O lives here."""
