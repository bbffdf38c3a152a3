"""The sync pass: reading a folder, publishing thread groups, replies, backfill and rebuild."""
