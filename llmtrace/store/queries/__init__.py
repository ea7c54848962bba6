"""Read queries, one module per API resource: plain functions taking a ``Store`` and typed arguments.

Every user value is a server-side bound parameter; column names come from allow-lists in code.
"""
