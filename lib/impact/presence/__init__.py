"""Presence: officer time per area, hour and unit, from visits."""
