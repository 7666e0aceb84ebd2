"""`python -m dive` runs the command line (this is how the client pool launches stdio servers)."""

from dive.cli import run

run()
