"""Training on DIVE data."""
