"""Prevention as kept promises: commitments named in the facts, tracked until shipped or dropped."""
