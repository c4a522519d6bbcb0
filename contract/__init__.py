"""The contract layer: what the executor, the runner and the observer agree on.

States, the on-disk layout, checkpoint streams and records, state replay and
the typed task with its JSON form. Modules here import only the standard
library and each other; the observer and the scheduler import these modules
and nothing else of ``executor`` (``tests/unit/test_layering.py`` checks it).
"""
