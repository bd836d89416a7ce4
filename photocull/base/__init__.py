"""What every stage shares: errors, paths, names, atomic output, digests, hash bits, progress, the heads registry."""
