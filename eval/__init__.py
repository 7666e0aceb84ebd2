"""Evaluation on held-out tools."""
