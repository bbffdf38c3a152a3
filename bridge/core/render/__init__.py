"""Pure rendering: mail content -> wikitext and page titles. Mail text reaches wikitext only
through `escape.escape_wikitext`, and titles only through `titles.page_title`."""
