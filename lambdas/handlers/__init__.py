"""Lambda entry points, one module per event source; each only parses and delegates."""
