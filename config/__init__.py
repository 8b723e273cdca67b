"""Settings, labels and the city model: everything the product is configured by."""
