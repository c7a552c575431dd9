"""The people inside: who they are, where they are reached, and what they are told.

A playbook names a people file (``responders: people/responders.yaml``). Each responder is known by
the id the playbook's approvals and the incident's commander use, and lists an address per channel
(email, SMS, or an internal channel such as Slack, Teams or a signed webhook). Approval requests,
cadence reminders and lapses, approval escalations and regulatory deadlines at risk or missed reach
them as outbox notices: crash-safe, sent once, recorded in the ledger.
"""
