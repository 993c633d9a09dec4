"""Matching: watch rules and the German/English-aware matcher.

``rules`` is the typed rule model, ``rulefile`` validates one rule file, ``loader`` loads a
set of them; ``text``, ``scan`` and ``match`` score entries (pure), ``explain`` describes
hits, ``backtest`` compares rules against the matches on record.
"""
