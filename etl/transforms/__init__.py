"""Pure pandas transforms: DataFrames in, DataFrames out, named after what they return."""
