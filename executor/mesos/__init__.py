"""Borealis on Mesos: the v1 executor HTTP API (both sides), health checks, announcing.

``protocol`` is pure (the RecordIO framing is ``borealis.contract.recordio``); ``client``
speaks to an agent; ``executor`` runs one task through the runner; ``agent`` is the embedded
single-host agent (``borealis agent``).
"""
