"""Channel adapters, one module per provider, their base contract and registry (issue 3).

Arrows point one way: ``channels`` may import ``clarion``; ``clarion`` never imports ``channels``.
"""
