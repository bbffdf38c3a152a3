"""The command's exit codes: 0 all fine, 1 a mailbox, the wiki or the state failed, 2 bad configuration."""

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
