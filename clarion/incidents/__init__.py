"""An incident's life: its status and lifecycle, the approvals its updates wait for, the cadence
that promises the next update, scheduled maintenance, the clock, and the reports of what happened.
"""
