"""Long runs and faults tried on the product with real processes (issue 15)."""
