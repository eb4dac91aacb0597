"""General-purpose steps that belong to no single stage."""
