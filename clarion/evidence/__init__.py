"""The evidence pack: whom an incident told, what, and when, in one ZIP that verifies offline.

A regulator asks "show us whom you told, what, and when". ``clarion evidence export INC-0042`` writes
the incident, its updates, the exact text of every rendition, one line per delivery with every event
its provider reported, the approvals, the regulatory stages, the commitments and the incident's slice
of the hash-chained audit log, with a manifest of their SHA-256 sums (:mod:`.export`); ``clarion
evidence verify`` checks all of it with nothing but the file (:mod:`.verify`). With
``--pseudonymise`` people are keyed hashes (:mod:`.pseudonyms`).

Modules: :mod:`.manifest` (the members, the record format, the manifest), :mod:`.records` (one record
per row of the small tables), :mod:`.deliveries` (the deliveries, streamed in chunks),
:mod:`.audit_slice` (the audit entries and their chain check), :mod:`.export`, :mod:`.verify`,
:mod:`.pseudonyms`.
"""
