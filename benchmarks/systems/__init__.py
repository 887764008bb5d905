"""The systems a benchmark compares, one module each."""
