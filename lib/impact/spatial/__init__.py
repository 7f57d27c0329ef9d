"""Spatial: zones (areas and buffer rings) and point-in-zone assignment, in British National Grid."""
