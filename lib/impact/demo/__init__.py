"""Deterministic demo world: raw extracts shaped like the real systems, with planted effects."""
