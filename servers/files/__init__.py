"""The files domain: a file-management workspace over the world's `files/` tree.

Tools list, search, read, write, copy, move and delete files; count, checksum and diff them; open and
create archives; and query CSV, JSON, YAML, TOML, INI, log and Markdown files. Every session works on its
own copy of the tree (made on its first write), and every path is confined to that copy.
"""

from . import analysis, archives, browse, documents, edit, logs, markdown, tables  # noqa: F401  (registers the tools)
from .workspace import DOMAIN

__all__ = ["DOMAIN"]
