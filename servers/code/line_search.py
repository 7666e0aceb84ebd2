"""Line-by-line search of a workspace tree, like `grep -rn`: one implementation for both places it runs.

A regular expression from a caller can take exponential time, so regex searches run inside the sandbox
(this file's source becomes the driver there); a plain-text search is linear and runs in the server.
Standard library only, and no `from __future__` import: the source is pasted into a `python -c` driver.
"""

import fnmatch
import os
import re
import stat

#: Files larger than this are not searched.
MAX_FILE_BYTES = 2_000_000


def search_tree(job, workspace):
    """Search the files under `workspace`/`job["root"]` whose name or workspace path matches `job["glob"]`
    for `job["pattern"]` (text, or a regex with `job["regex"]`); returns hits, totals and files scanned."""
    flags = 0 if job["case_sensitive"] else re.I
    pattern = re.compile(job["pattern"] if job["regex"] else re.escape(job["pattern"]), flags)
    hits, files_hit, scanned, total = [], set(), 0, 0
    for dirpath, dirnames, filenames in os.walk(os.path.join(workspace, job["root"])):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, workspace)
            if not fnmatch.fnmatch(name, job["glob"]) and not fnmatch.fnmatch(rel, job["glob"]):
                continue
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                continue  # links, pipes (opening one would block) and big files are skipped
            scanned += 1
            try:
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(lines, 1):
                m = pattern.search(line)
                if m:
                    total += 1
                    files_hit.add(rel)
                    if len(hits) < job["max_results"]:
                        hits.append({"path": rel, "line": number, "column": m.start() + 1, "text": line[:300]})
    return {"hits": hits, "total": total, "files": sorted(files_hit), "scanned": scanned}
