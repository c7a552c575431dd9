"""The delivery engine: every intended message is an outbox row before any network call.

``port`` is what the engine asks of a channel adapter (the adapters live in ``channels/`` and
implement it; this package never imports them). ``ledger`` writes, claims and records rows;
``worker`` drives adapters over claimed batches with retries, backoff and rate limits.
"""
