"""Task synthesis: evidence first, tasks derived from traces."""
