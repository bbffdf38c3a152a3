"""Pure rendering: mail content -> wikitext and page titles. Mail text reaches wikitext only
through the functions of `escape` (one per context), and titles only through `titles.page_title`."""
