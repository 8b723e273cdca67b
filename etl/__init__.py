"""Pull from the source systems, validate, aggregate with pandas, publish snapshots to Redis."""
