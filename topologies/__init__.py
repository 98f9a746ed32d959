"""Aggregate declarations: each ``*.py`` here binds :class:`Aggregate` values at module level.

``streamapp.windows.load.load_topologies`` reads this folder at start (files starting with ``_``
are skipped). Grace periods here are short so local and end-to-end runs see windows close within
a couple of minutes; production would use minutes to hours, to match how late mobile clients
deliver their batches.
"""
