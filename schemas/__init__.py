"""Table schemas (one YAML per table), shipped as package data `impact_schemas`. Load with impact.schemas."""
