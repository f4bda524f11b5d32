"""FreeWheel's forecasters with bands (seed 001): each gives an expected value and a band per point."""
