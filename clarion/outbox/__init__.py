"""The delivery engine: every intended message is an outbox row before any network call.

``port`` is what the engine asks of a channel adapter (the adapters live in ``channels/`` and
implement it; this package never imports them). ``fanout`` stages an update's rows and ``notices``
a notice's (a message that is not an update: a confirmation link, a code); ``claims`` claims due
rows (notices first) and reads them as messages; ``ledger`` records outcomes and recovers abandoned
claims; ``worker`` drives adapters over claimed batches with retries, backoff and rate limits.
"""
