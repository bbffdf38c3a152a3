"""The service around the pass: configuration, command line, daemon, IDLE, metrics, notify, logs."""
