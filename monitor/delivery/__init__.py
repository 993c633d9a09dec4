"""Delivery: matches -> alerts and digests -> an outbox -> channels.

Pure: ``digest`` (what a message contains), ``render`` (+ ``slack_blocks``, ``l10n``),
``outbox`` (keys, backoff, due times). With the store: ``enqueue`` (matches -> outbox
records), ``send`` (claim, send, record), ``deliver`` (the facade the app calls).
"""
