"""Audit: the git trail, failure records for post-mortems, the queries of `chiffon audit`."""
