"""The floor under both `ingest/` and `kb/`: the shared data model and Thai text utilities.

`ingest` (loading files) and `kb` (index, retrieval, drafting, review) both build on these
records and on `textmodel.thai`, and neither imports the other's internals for them, so the
dependency runs one way only: kb → ingest → textmodel.
"""
