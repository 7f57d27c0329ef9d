"""Visits: officers' time-ordered fixes inside an area or ring, with dwell bounds, mode and posting."""
