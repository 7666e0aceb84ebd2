"""Small driver programs that run INSIDE the sandbox around user code and report back as JSON.

Each driver is passed to `python3 -c` with its arguments; the first argument is a one-time marker,
and the driver prints `marker` followed by its JSON report as the last thing on stdout. The server
splits that report off, so what the user's code printed is returned separately. The drivers use
only the standard library (and pytest where asked), which the sandbox's Python provides.
"""

from __future__ import annotations

import inspect
import json
import secrets
from typing import Any

from dive.servers.kit import ToolFailure

from . import line_search

#: Shared by every driver: import a workspace file as a module, and emit the report.
_PRELUDE = r'''
import json, os, sys, importlib, importlib.util
MARKER = sys.argv[1]
sys.path.insert(0, os.getcwd())

def emit(report):
    sys.stdout.flush()
    sys.stdout.write("\n" + MARKER + json.dumps(report, default=str))
    sys.stdout.flush()

def module_from_path(path):
    """Import a workspace file under its dotted name (tests/test_x.py -> tests.test_x) when it can."""
    rel = os.path.relpath(os.path.abspath(path), os.getcwd())
    if rel.endswith(".py") and not rel.startswith(".."):
        dotted = rel[:-3].replace(os.sep, ".")
        if all(part.isidentifier() for part in dotted.split(".")):
            return importlib.import_module(dotted)
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3] or "module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

def last_line(text):
    lines = [l for l in str(text).strip().splitlines() if l.strip()]
    return lines[-1].strip()[:500] if lines else ""
'''

PYTEST = _PRELUDE + r'''
import pytest
target = sys.argv[2]
select = sys.argv[3]

class Collector:
    def __init__(self):
        self.tests = {}
        self.order = []

    def _entry(self, nodeid):
        if nodeid not in self.tests:
            self.tests[nodeid] = {"id": nodeid, "outcome": "passed", "message": "", "duration_ms": 0.0}
            self.order.append(nodeid)
        return self.tests[nodeid]

    def pytest_collectreport(self, report):
        if report.failed:
            entry = self._entry(report.nodeid or target)
            entry["outcome"] = "error"
            entry["message"] = last_line(report.longreprtext)

    def pytest_runtest_logreport(self, report):
        entry = self._entry(report.nodeid)
        entry["duration_ms"] += round(report.duration * 1000, 3)
        wasxfail = hasattr(report, "wasxfail")
        if report.when == "call":
            if wasxfail:
                entry["outcome"] = "xfailed" if report.skipped else "xpassed"
                entry["message"] = str(report.wasxfail)
            else:
                entry["outcome"] = report.outcome
                if report.failed:
                    crash = getattr(report.longrepr, "reprcrash", None)
                    entry["message"] = (crash.message if crash else last_line(report.longreprtext))[:500]
                elif report.skipped:
                    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longreprtext
                    entry["message"] = last_line(reason)
        elif report.skipped and report.when == "setup":
            entry["outcome"] = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longreprtext
            entry["message"] = str(reason).removeprefix("Skipped: ")[:500]
        elif report.failed:
            entry["outcome"] = "error"
            entry["message"] = ("error in " + report.when + ": " + last_line(report.longreprtext))[:500]

collector = Collector()
args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--color=no", "-o", "console_output_style=classic", target]
if select:
    args += ["-k", select]
code = pytest.main(args, plugins=[collector])
emit({"runner": "pytest", "exit_code": int(code), "tests": [collector.tests[n] for n in collector.order]})
'''

UNITTEST = _PRELUDE + r'''
import time, traceback, unittest
target = sys.argv[2]
select = sys.argv[3]

class Recorder(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = []
        self._started = {}

    def startTest(self, test):
        self._started[test.id()] = time.perf_counter()
        super().startTest(test)

    def _record(self, test, outcome, message=""):
        began = self._started.get(test.id(), time.perf_counter())
        self.records.append({"id": test.id(), "outcome": outcome, "message": message[:500],
                             "duration_ms": round((time.perf_counter() - began) * 1000, 3)})

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failed", last_line("".join(traceback.format_exception_only(err[0], err[1]))))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", last_line("".join(traceback.format_exception_only(err[0], err[1]))))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "xfailed")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "xpassed")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failed" if issubclass(err[0], test.failureException) else "error"
            self._record(subtest, kind, last_line("".join(traceback.format_exception_only(err[0], err[1]))))

records = []
try:
    module = module_from_path(target)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    if select:
        def keep(suite):
            out = unittest.TestSuite()
            for item in suite:
                if isinstance(item, unittest.TestSuite):
                    out.addTests(keep(item))
                elif select in item.id():
                    out.addTest(item)
            return out
        suite = keep(suite)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=Recorder)
    result = runner.run(suite)
    records = result.records
    code = 0 if result.wasSuccessful() else 1
except Exception as exc:
    records = [{"id": target, "outcome": "error", "message": last_line(traceback.format_exc()), "duration_ms": 0.0}]
    code = 2
emit({"runner": "unittest", "exit_code": code, "tests": records})
'''

DOCTEST = _PRELUDE + r'''
import doctest, traceback, types
target = sys.argv[2]
code = sys.argv[3]
if code:
    module = types.ModuleType("snippet")
    module.__file__ = "<snippet>"
    sys.modules["snippet"] = module
    exec(compile(code, "<snippet>", "exec"), module.__dict__)
else:
    module = module_from_path(target)

failures = []

class Runner(doctest.DocTestRunner):
    def report_failure(self, out, test, example, got):
        failures.append({"test": test.name, "line": (test.lineno or 0) + example.lineno + 1,
                         "source": example.source.strip(), "expected": example.want.rstrip("\n"),
                         "got": got.rstrip("\n"), "exception": None})

    def report_unexpected_exception(self, out, test, example, exc_info):
        failures.append({"test": test.name, "line": (test.lineno or 0) + example.lineno + 1,
                         "source": example.source.strip(), "expected": example.want.rstrip("\n"), "got": "",
                         "exception": last_line("".join(traceback.format_exception_only(exc_info[0], exc_info[1])))})

runner = Runner(verbose=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
tests = []
for test in sorted(doctest.DocTestFinder().find(module), key=lambda t: t.name):
    if not test.examples:
        continue
    result = runner.run(test, out=lambda s: None)
    tests.append({"name": test.name, "line": (test.lineno or 0) + 1, "attempted": result.attempted,
                  "failed": result.failed})
emit({"tests": tests, "failures": failures})
'''

TIMEIT = _PRELUDE + r'''
import timeit
stmt, setup, number, repeat = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
timer = timeit.Timer(stmt, setup or "pass")
if number <= 0:
    number, _ = timer.autorange()
times = timer.repeat(repeat=repeat, number=number)
emit({"number": number, "repeat": repeat, "per_loop_seconds": [t / number for t in times]})
'''

PROFILE = _PRELUDE + r'''
import cProfile, pstats
code, top = sys.argv[2], int(sys.argv[3])
namespace = {"__name__": "__main__"}
profiler = cProfile.Profile()
compiled = compile(code, "<snippet>", "exec")
profiler.enable()
try:
    exec(compiled, namespace)
finally:
    profiler.disable()
stats = pstats.Stats(profiler).stats
rows = []
for (filename, line, name), (primitive, calls, tottime, cumtime, _callers) in stats.items():
    if filename == "~" and ("_lsprof" in name or "disable" in name):
        continue
    where = "<snippet>" if filename == "<snippet>" else ("built-in" if filename == "~" else filename)
    rows.append({"function": name, "file": where, "line": line, "calls": calls, "primitive_calls": primitive,
                 "total_ms": round(tottime * 1000, 4), "cumulative_ms": round(cumtime * 1000, 4)})
rows.sort(key=lambda r: (-r["cumulative_ms"], -r["calls"], r["function"]))
total_calls = sum(r["calls"] for r in rows)
emit({"functions": rows[:top], "total_calls": total_calls, "distinct_functions": len(rows)})
'''

COVERAGE = _PRELUDE + r'''
import runpy, threading
target, mode = sys.argv[2], sys.argv[3]
script_args = json.loads(sys.argv[4])
root = os.getcwd() + os.sep
hits = {}

def tracer(frame, event, arg):
    filename = frame.f_code.co_filename
    if not filename.startswith(root):
        return None
    if event == "line":
        lines = hits.get(filename)
        if lines is None:
            lines = hits[filename] = set()
        lines.add(frame.f_lineno)
    return tracer

def executable_lines(path):
    with open(path, encoding="utf-8") as f:
        source = f.read()
    code = compile(source, path, "exec")
    lines, stack = set(), [code]
    while stack:
        co = stack.pop()
        for _start, _end, line in co.co_lines():
            if line:
                lines.add(line)
        stack.extend(c for c in co.co_consts if hasattr(c, "co_lines"))
    # Docstrings are constants, not statements: do not count them as missable lines.
    import ast
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines -= set(range(first.lineno, first.end_lineno + 1))
    return lines

exit_code = 0
sys.settrace(tracer)
threading.settrace(tracer)
try:
    if mode == "pytest":
        import pytest
        exit_code = int(pytest.main(["-q", "-p", "no:cacheprovider", "--color=no", target]))
    elif mode == "unittest":
        import unittest
        module = module_from_path(target)
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(
            unittest.defaultTestLoader.loadTestsFromModule(module))
        exit_code = 0 if result.wasSuccessful() else 1
    else:
        sys.argv = [target] + script_args
        try:
            runpy.run_path(os.path.abspath(target), run_name="__main__")
        except SystemExit as exc:
            exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
finally:
    sys.settrace(None)
    threading.settrace(None)

files = []
for filename in sorted(hits):
    if not filename.endswith(".py") or not os.path.exists(filename):
        continue
    try:
        executable = executable_lines(filename)
    except (SyntaxError, UnicodeDecodeError, OSError):
        continue
    ran = hits[filename] & executable
    files.append({"path": os.path.relpath(filename, root), "executable": len(executable),
                  "executed": len(ran), "missed": sorted(executable - ran)})
emit({"exit_code": exit_code, "files": files})
'''

PROBE = _PRELUDE + r'''
import platform, pkgutil, socket, sysconfig
stdlib = set(sys.stdlib_module_names)
extra = sorted({m.name for m in pkgutil.iter_modules() if not m.name.startswith("_") and m.name not in stdlib
                and os.path.abspath(getattr(m.module_finder, "path", "")) != os.getcwd()})
interfaces = [name for _i, name in socket.if_nameindex()]
emit({"python_version": platform.python_version(), "implementation": platform.python_implementation(),
      "executable": sys.executable, "platform": platform.platform(), "uid": os.getuid(), "cwd": os.getcwd(),
      "third_party_modules": extra, "network_interfaces": interfaces,
      "cpu_count": os.cpu_count()})
'''


REGEX = _PRELUDE + r'''
import re
job = json.loads(sys.stdin.read())
flags = 0
for name in job["flags"]:
    flags |= getattr(re, name)
try:
    pattern = re.compile(job["pattern"], flags)
except re.error as exc:
    emit({"error": f"invalid regular expression: {exc}"})
    sys.exit(0)
text = job["text"]
if job["mode"] == "search":
    line_starts = [0] + [m.end() for m in re.finditer("\\n", text)]
    import bisect
    matches, count = [], 0
    for m in pattern.finditer(text):
        count += 1
        if len(matches) < job["max_matches"]:
            spans = [list(m.span(i)) for i in range(1, pattern.groups + 1)]
            matches.append({"text": m.group(0), "start": m.start(), "end": m.end(),
                            "line": bisect.bisect_right(line_starts, m.start()),
                            "groups": list(m.groups()), "group_spans": spans, "named": m.groupdict()})
    emit({"groups": pattern.groups, "group_names": sorted(pattern.groupindex, key=pattern.groupindex.get),
          "count": count, "matches": matches})
else:
    try:
        result, n = pattern.subn(job["replacement"], text, count=job["count"])
    except (re.error, IndexError) as exc:
        emit({"error": f"invalid replacement: {exc}"})
        sys.exit(0)
    emit({"result": result, "replacements": n})
'''

#: Searches the workspace (the driver's working directory) with a caller's regular expression.
SEARCH = _PRELUDE + inspect.getsource(line_search) + '''
emit(search_tree(json.loads(sys.stdin.read()), os.getcwd()))
'''


def new_marker() -> str:
    """A marker the user's program cannot guess, separating its output from the driver's report."""
    return f"\x1e<<dive-report {secrets.token_hex(8)}>>"


def split_report(stdout: str, marker: str) -> tuple[str, dict[str, Any] | None]:
    """(what the user's code printed, the driver's report or None when the driver did not finish)."""
    head, sep, tail = stdout.rpartition(marker)
    if not sep:
        return stdout, None
    try:
        report = json.loads(tail)
    except json.JSONDecodeError:
        raise ToolFailure("the sandbox driver's report was cut short; ask for less output") from None
    if head.endswith("\n"):
        head = head[:-1]
    return head, report
