"""mer-etl engine: decode, plan, run on Ray, write, version and read back datasets."""
