"""Malformed and edge-case inputs for ``izer convert``, generated at test time."""
