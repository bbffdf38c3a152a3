"""The pure core: mail in, wikitext, titles and reply decisions out; no I/O of any kind."""
