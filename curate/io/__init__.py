"""Reading sources into record batches and writing shards atomically."""
