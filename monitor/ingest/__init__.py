"""Ingest: getting feeds in. Fetch over HTTP or from files, decide when to poll next,
parse bodies into plain-text ``Entry`` records (in worker processes for big cycles), and for
``fulltext: true`` feeds fetch article pages and extract their main text (``fulltext``,
``extract``).
"""
