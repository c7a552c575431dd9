"""Follow-up surveys after resolution, and the trust loop they close.

* :mod:`~clarion.surveys.signals`: trust signals in free text (doubt, cynicism, relief, regained
  confidence, appreciation), a polarity and a request for contact, from cue lexicons per locale;
* :mod:`~clarion.surveys.invites`: whom a resolved incident asks, on which channel, with a signed link
  per invitation (only its hash is stored), through the outbox;
* :mod:`~clarion.surveys.answers`: an answer checked and recorded once, and the follow-up it opens;
* :mod:`~clarion.surveys.report`: what the answers come to, and the ratio the status page may publish;
* :mod:`~clarion.surveys.privacy`: retention, and a recipient's access and erasure requests.
"""
