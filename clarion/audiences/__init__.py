"""Who is told: audience files and queries, consent and unsubscribes, the signed links in messages,
and the checks of the addresses they hold.
"""
