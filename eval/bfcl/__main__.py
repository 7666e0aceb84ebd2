"""`python -m dive.eval.bfcl --entry-id ID --class NAME`: serve one multi-turn class of one entry over stdio."""

from .multi_turn import main

main()
