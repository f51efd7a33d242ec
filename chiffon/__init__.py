"""Chiffon (public API assembled in a later commit)."""
