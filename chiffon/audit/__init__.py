"""Audit: the git trail, failure records for post-mortems, the queries of `chiffon audit`.

``git_trail.GitTrail`` writes one directory per run and one commit per milestone;
``trail_files.trail_files`` lays a run's records out for it. ``failures.record_failure``
stores where a step failed. ``queries`` answers ``list_runs``, ``run_timeline`` and
``service_changes`` with the records of ``records``. Nothing is imported here, so that the
CLI can import ``chiffon.audit.errors`` without SQLAlchemy.
"""
