"""An update's way out: composed from the facts, rendered per channel and locale, measured
against the channels' limits, proved consistent, drafted, approved and published.
"""
