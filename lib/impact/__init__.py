"""Impact Area presence analytics: Airwave pings -> visits -> presence and activity marts."""

__version__ = "0.1.0"
