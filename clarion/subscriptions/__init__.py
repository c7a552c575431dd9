"""Status page subscriptions: people who asked to be told when components they care about are touched.

The life of a subscription::

    form (email or number, components, language)
      → request_subscription: a pending subscriber (or the existing one, untouched) and a confirmation,
        and a notice in the outbox: a signed link by email, a code by SMS
      → confirm (the link's button, or the code typed on the page): single use, expiring
      → confirmed subscriber: an audience source playbooks name (``source: {subscribers: …}``),
        filtered by the components an update touches
      → manage page (a signed link): change components, unsubscribe; SMS STOP/START/HELP

Modules: :mod:`~clarion.subscriptions.choices` (what a form asks for, checked),
:mod:`~clarion.subscriptions.secrets` (signed links, codes, form tokens, keyed digests),
:mod:`~clarion.subscriptions.limits` (sliding-window rate limits in the store),
:mod:`~clarion.subscriptions.requests` (subscribe and confirm), :mod:`~clarion.subscriptions.manage`
(manage, unsubscribe, SMS keywords), :mod:`~clarion.subscriptions.notices` (what the outbox renders),
:mod:`~clarion.subscriptions.audience` (subscribers as recipients of an update).

Privacy: a request answers the same whether the address was known or not; audit entries name the
subscriber by id and the address only by a keyed digest; rate limits keep keyed digests, never an
address or a client's IP address.
"""
