"""Near-duplicate groups: pair search with complete linkage, and rebuilding groups after a scan."""
