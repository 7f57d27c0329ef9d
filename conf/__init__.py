"""The configuration files, shipped in the wheel as package `impact_conf` (the embedded default of an
installed package: impact.config)."""
