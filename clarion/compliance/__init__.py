"""Regulatory deadlines: the clocks a playbook's regimes start, and the notices that meet them."""
