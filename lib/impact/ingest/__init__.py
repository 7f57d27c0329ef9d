"""Ingest: raw extracts -> conformed Delta tables, with quarantine and a run log."""
