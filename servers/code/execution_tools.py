"""Tools that run code in the session's sandbox: snippets, files, tests, doctests, timing, profiling, coverage."""

from __future__ import annotations

import json
import statistics
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, clip_items, no_facts

from . import harness
from .domain import (
    DOMAIN,
    MAX_RUN_SECONDS,
    MAX_SOURCE_CHARS,
    RUN_TOOL_TIMEOUT,
    CodeState,
    RunResult,
    run_result,
    stopped_by_limit,
)

Timeout = Annotated[float, Field(ge=1, le=MAX_RUN_SECONDS,
                                  description="Wall-clock limit in seconds (the CPU-time limit is the same)")]
Stdin = Annotated[str, Field(max_length=MAX_SOURCE_CHARS, description="Text fed to the program's standard input")]
Args = Annotated[list[str], Field(max_length=64, description="Command-line arguments (sys.argv[1:])")]


def _check_size(text: str, what: str) -> None:
    if len(text) > MAX_SOURCE_CHARS:
        raise ToolFailure(f"{what} is {len(text)} characters, over the {MAX_SOURCE_CHARS} limit")
    if "\x00" in text:
        raise ToolFailure(f"{what} contains a null byte")


def _finish(state: CodeState, argv: list[str], stdin: str, timeout: float) -> RunResult:
    outcome, limits = state.execute(argv, stdin=stdin, timeout=timeout)
    stopped_by_limit(outcome, limits)
    return run_result(outcome)


@DOMAIN.tool(meaning=no_facts("runs code the caller writes; a question would have to spell the code out, and the run's timing and backend are the tool's own"), kind="processing", writes=True, timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"code": "print(sum(range(1, 101)))"}, lambda r: r["stdout"].strip() == "5050" and r["exit_code"] == 0),
    Example({"code": "import sys\nprint(sys.stdin.read().upper())", "stdin": "hello"},
            lambda r: r["stdout"].strip() == "HELLO"),
    Example({"code": "raise ValueError('bad input')"},
            lambda r: r["exit_code"] == 1 and not r["ok"] and "ValueError: bad input" in r["stderr"]),
])
def run_python(
    s: CodeState,
    code: Annotated[str, Field(description="Python 3 source to run as a script, e.g. \"print(2 + 2)\"")],
    stdin: Stdin = "",
    args: Args = [],
    timeout_seconds: Timeout = 10,
) -> RunResult:
    """Run a Python snippet in the sandbox and return its stdout, stderr and exit code.

    The working directory is the workspace (examples/, tests/, data/ CSVs ...), which the code may
    read and write; files other tools made for this session (screenshots, media outputs) are
    readable under /shared. There is no network and nothing outside the workspace is writable.
    Only the standard library (plus pytest) is installed; nothing can be installed. A program that exceeds
    the time, memory, process or output limits is stopped and reported as an error naming the limit.
    A program that fails normally (an exception, a non-zero exit) is a result with ok=false.
    """
    _check_size(code, "code")
    return _finish(s, [s.python, "-c", code, *args], stdin, timeout_seconds)


@DOMAIN.tool(meaning=no_facts("runs a command line the caller writes; a question would have to spell the command out"), kind="processing", writes=True, timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"command": "echo hello | tr a-z A-Z"}, lambda r: r["stdout"] == "HELLO\n"),
    Example({"command": "wc -l < examples/fizzbuzz.py"}, lambda r: int(r["stdout"].strip()) > 10),
    Example({"command": "sort -n | head -1", "stdin": "5\n3\n9\n"}, lambda r: r["stdout"].strip() == "3"),
])
def run_shell(
    s: CodeState,
    command: Annotated[str, Field(description="A bash command line, e.g. \"ls -la examples | wc -l\"")],
    stdin: Stdin = "",
    timeout_seconds: Timeout = 10,
) -> RunResult:
    """Run a bash command line in the sandbox (working directory: the workspace) and return its output.

    Core utilities (ls, cat, grep, sed, awk, sort, wc, head, tail, find, python3 ...) are available;
    there is no network, no package installation, and only the workspace is writable (/shared,
    files other tools made for this session, is read-only).
    """
    _check_size(command, "command")
    return _finish(s, ["bash", "-c", command], stdin, timeout_seconds)


class FileRunResult(RunResult):
    path: str = Field(description="The workspace file that ran")


@DOMAIN.tool(meaning=no_facts("a program's output is free text shaped by the caller's arguments and input; timing and backend are the tool's own",
    path=Takes("python_file", "path")), kind="retrieval", writes=True, timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"path": "examples/fizzbuzz.py"},
            lambda r: r["stdout"].splitlines()[14] == "FizzBuzz" and r["stdout"].splitlines()[2] == "Fizz"),
    Example({"path": "examples/fizzbuzz.py", "args": ["5"]}, lambda r: r["stdout"].split() == ["1", "2", "Fizz", "4", "Buzz"]),
    Example({"path": "examples/wordfreq.py", "args": ["2"], "stdin": "the cat saw the dog and the cat"},
            lambda r: r["stdout"].splitlines() == ["the 3", "cat 2"]),
    Example({"path": "examples/elements_summary.py"},
            lambda r, world: r["ok"] and "lightest: Hydrogen" in r["stdout"]
            and f"elements: {sum(1 for _ in open(world.files_root / 'data' / 'elements.csv')) - 1}" in r["stdout"]),
])
def run_python_file(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace path of a Python file, e.g. 'examples/fizzbuzz.py'")],
    args: Args = [],
    stdin: Stdin = "",
    timeout_seconds: Timeout = 10,
) -> FileRunResult:
    """Run a Python file from the workspace as `python3 FILE ARGS...` in the sandbox (cwd: the workspace).

    Use write_file first to create or change the program. Returns stdout, stderr and exit code.
    """
    file = s.path(path, must_exist=True)
    if not file.is_file():
        raise ToolFailure(f"not a file: {path}")
    rel = s.rel(file)
    result = _finish(s, [s.python, rel, *args], stdin, timeout_seconds)
    return FileRunResult(**result.model_dump(), path=rel)


class TestOutcome(BaseModel):
    id: str = Field(description="Test id: 'tests/test_x.py::test_name' (pytest) or 'module.Class.test' (unittest)")
    outcome: Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    message: str = Field(description="Failure/error/skip reason (one line), empty when passed")
    duration_ms: float


class TestRunResult(BaseModel):
    path: str
    runner: Literal["pytest", "unittest"]
    passed: int
    failed: int
    errors: int
    skipped: int
    total: int
    success: bool = Field(description="True when nothing failed or errored (and at least one test ran)")
    tests: list[TestOutcome]
    output: str = Field(description="The runner's own console output (clipped)")


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    facts=(Fact("total", "the number of tests in {path}"),
           Fact("passed", "the number of tests in {path} that pass"),
           Fact("failed", "the number of tests in {path} that fail"),
           Fact("errors", "the number of tests in {path} that end in an error"),
           Fact("skipped", "the number of tests in {path} that are skipped"),
           Fact("success", "whether every test in {path} passes")),
    items=(Items("tests", phrase="the tests in {path}", total="total", name="id", name_type="test", name_by="id",
                 attributes={"outcome": "outcome"}),)), kind="retrieval", writes=True, timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"path": "tests/test_textkit.py"},
            lambda r: r["runner"] == "pytest" and (r["passed"], r["failed"], r["skipped"]) == (8, 0, 1) and r["success"]),
    Example({"path": "tests/test_inventory.py", "runner": "unittest"},
            lambda r: (r["passed"], r["failed"]) == (4, 1)
            and [t["id"] for t in r["tests"] if t["outcome"] == "failed"]
            == ["tests.test_inventory.InventoryTests.test_remove_more_than_in_stock"]),
    Example({"path": "tests/test_inventory.py", "runner": "pytest", "select": "low_stock"},
            lambda r: r["total"] == 1 and r["passed"] == 1),
])
def run_tests(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace path of a test file, e.g. 'tests/test_textkit.py'")],
    runner: Annotated[Literal["auto", "pytest", "unittest"], Field(
        description="'pytest' (runs pytest-style and unittest-style tests), 'unittest', or 'auto' (pytest)")] = "auto",
    select: Annotated[str, Field(max_length=200, description=(
        "Only tests matching this: a pytest -k expression, or a substring of the unittest test id"))] = "",
    timeout_seconds: Timeout = 20,
) -> TestRunResult:
    """Run a test file from the workspace in the sandbox and report pass/fail counts and each test's outcome.

    Failed tests carry the assertion message, e.g. "AssertionError: 3 != 4". Modules of the workspace
    (examples/...) are importable from tests.
    """
    file = s.path(path, must_exist=True)
    if not file.is_file() or file.suffix != ".py":
        raise ToolFailure(f"not a Python test file: {path}")
    rel = s.rel(file)
    chosen = "pytest" if runner == "auto" else runner
    driver = harness.PYTEST if chosen == "pytest" else harness.UNITTEST
    report, run = s.drive(driver, [rel, select], timeout=timeout_seconds)
    tests = [TestOutcome(**t) for t in report["tests"]]
    counts = {k: sum(1 for t in tests if t.outcome == k) for k in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")}
    listed, _ = clip_items(tests)
    output = (run.stdout + ("\n" + run.stderr if run.stderr else "")).strip()
    return TestRunResult(
        path=rel, runner=chosen, passed=counts["passed"] + counts["xpassed"], failed=counts["failed"],
        errors=counts["error"], skipped=counts["skipped"] + counts["xfailed"], total=len(tests),
        success=bool(tests) and counts["failed"] == 0 and counts["error"] == 0, tests=listed,
        output=output[-6000:],
    )


class DoctestFailure(BaseModel):
    test: str = Field(description="Qualified name of the object whose docstring holds the example")
    line: int = Field(description="Line of the failing example in the file")
    source: str
    expected: str
    got: str
    exception: str | None = Field(description="The exception raised instead, if any")


class DoctestBlock(BaseModel):
    name: str
    line: int
    attempted: int
    failed: int


class DoctestResult(BaseModel):
    source: str
    attempted: int
    failed: int
    blocks: list[DoctestBlock]
    failures: list[DoctestFailure]


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    facts=(Fact("attempted", "the number of doctest examples in {path}"),
           Fact("failed", "the number of doctest examples in {path} that fail")),
    items=(Items("failures", phrase="the failing doctest examples in {path}", total="failed"),)), kind="retrieval", timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"path": "examples/textkit.py"},
            lambda r: r["attempted"] == 8 and r["failed"] == 1 and r["failures"][0]["test"].endswith("count_vowels")
            and r["failures"][0]["expected"] == "4" and r["failures"][0]["got"] == "3"),
    Example({"code": "def double(x):\n    '''\n    >>> double(21)\n    42\n    '''\n    return 2 * x\n"},
            lambda r: r["attempted"] == 1 and r["failed"] == 0),
])
def run_doctests(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace path of a Python module, e.g. 'examples/textkit.py'")] = "",
    code: Annotated[str, Field(description="Python source holding doctests (instead of path)")] = "",
    timeout_seconds: Timeout = 15,
) -> DoctestResult:
    """Run the doctest examples (">>> " lines in docstrings) of a module in the sandbox.

    Reports how many examples ran and failed, per docstring, and for each failure the example,
    the expected output and what was actually produced.
    """
    if bool(path) == bool(code):
        raise ToolFailure("give exactly one of `path` (a workspace module) or `code` (source text)")
    if code:
        _check_size(code, "code")
        label, args = "<code>", ["", code]
    else:
        file = s.path(path, must_exist=True)
        if not file.is_file():
            raise ToolFailure(f"not a file: {path}")
        label = s.rel(file)
        args = [label, ""]
    report, _run = s.drive(harness.DOCTEST, args, timeout=timeout_seconds)
    blocks = [DoctestBlock(**b) for b in report["tests"]]
    return DoctestResult(source=label, attempted=sum(b.attempted for b in blocks), failed=sum(b.failed for b in blocks),
                         blocks=blocks, failures=[DoctestFailure(**f) for f in report["failures"]])


class TimingResult(BaseModel):
    number: int = Field(description="Executions of the statement per measurement")
    repeat: int
    best_us: float = Field(description="Fastest time per execution, microseconds")
    median_us: float
    mean_us: float
    all_us: list[float]
    backend: str


@DOMAIN.tool(meaning=Meaning(volatile=True, none="times a statement the caller writes; timings change from run to run"), kind="processing", timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"statement": "sorted(data)", "setup": "data = list(range(1000, 0, -1))", "number": 100, "repeat": 3},
            lambda r: r["number"] == 100 and len(r["all_us"]) == 3 and 0 < r["best_us"] <= r["median_us"]),
])
def time_python(
    s: CodeState,
    statement: Annotated[str, Field(description="Python statement to time, e.g. \"sum(range(1000))\"")],
    setup: Annotated[str, Field(description="Code run once before timing, e.g. imports or test data")] = "",
    number: Annotated[int, Field(ge=0, le=10_000_000, description="Executions per measurement; 0 picks one automatically")] = 0,
    repeat: Annotated[int, Field(ge=1, le=20, description="How many measurements")] = 5,
    timeout_seconds: Timeout = 20,
) -> TimingResult:
    """Time a Python statement with timeit in the sandbox; returns per-execution times in microseconds.

    Timings vary from run to run and between machines; compare statements within one session.
    """
    _check_size(statement + setup, "statement and setup")
    report, run = s.drive(harness.TIMEIT, [statement, setup, str(number), str(repeat)], timeout=timeout_seconds)
    per = [t * 1e6 for t in report["per_loop_seconds"]]
    return TimingResult(number=report["number"], repeat=report["repeat"], best_us=round(min(per), 4),
                        median_us=round(statistics.median(per), 4), mean_us=round(statistics.fmean(per), 4),
                        all_us=[round(t, 4) for t in per], backend=run.backend)


class ProfiledFunction(BaseModel):
    function: str
    file: str = Field(description="'<snippet>' for functions of the code, 'built-in', or a library path")
    line: int
    calls: int = Field(description="Total calls, recursive ones included")
    primitive_calls: int = Field(description="Calls not made recursively")
    total_ms: float = Field(description="Time inside the function itself")
    cumulative_ms: float = Field(description="Time inside the function and everything it called")


class ProfileResult(BaseModel):
    functions: list[ProfiledFunction]
    total_calls: int
    distinct_functions: int
    stdout: str


@DOMAIN.tool(meaning=Meaning(volatile=True, none="profiles code the caller writes; its times change from run to run"), kind="processing", timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({"code": "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nprint(fib(10))"},
            lambda r: r["stdout"].strip() == "55"
            and next(f for f in r["functions"] if f["function"] == "fib")["calls"] == 177
            and next(f for f in r["functions"] if f["function"] == "fib")["primitive_calls"] == 1),
])
def profile_python(
    s: CodeState,
    code: Annotated[str, Field(description="Python source to run under cProfile")],
    top: Annotated[int, Field(ge=1, le=100, description="How many functions to list, by cumulative time")] = 15,
    timeout_seconds: Timeout = 20,
) -> ProfileResult:
    """Run Python code under cProfile in the sandbox: call counts and times per function.

    Call counts are exact (e.g. how many times a recursive function is entered); times vary by run.
    """
    _check_size(code, "code")
    report, run = s.drive(harness.PROFILE, [code, str(top)], timeout=timeout_seconds)
    return ProfileResult(functions=[ProfiledFunction(**f) for f in report["functions"]], total_calls=report["total_calls"],
                         distinct_functions=report["distinct_functions"], stdout=run.stdout)


class FileCoverage(BaseModel):
    path: str
    executable: int = Field(description="Lines holding statements")
    executed: int
    percent: float
    missed: list[int] = Field(description="Statement lines that never ran")


class CoverageResult(BaseModel):
    path: str
    mode: Literal["script", "pytest", "unittest"]
    exit_code: int
    files: list[FileCoverage]
    stdout: str


def _covered(report: dict) -> list[FileCoverage]:
    files = []
    for f in report["files"]:
        pct = 100.0 * f["executed"] / f["executable"] if f["executable"] else 100.0
        files.append(FileCoverage(path=f["path"], executable=f["executable"], executed=f["executed"],
                                  percent=round(pct, 1), missed=f["missed"]))
    return files


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    items=(Items("files", phrase="the workspace Python files that run when {path} runs", name="path",
                 name_type="python_file", name_by="path",
                 attributes={"percent": "share of statement lines executed", "executable": "number of statement lines",
                             "executed": "number of statement lines executed"},
                 units={"percent": "percent"}, complete=True),)), kind="retrieval", timeout=RUN_TOOL_TIMEOUT,
    examples=[
    Example({"path": "tests/test_inventory.py", "mode": "unittest"},
            lambda r: next(f for f in r["files"] if f["path"] == "examples/inventory.py")["missed"] == [38]
            and r["exit_code"] == 1),
    Example({"path": "examples/geometry.py"},
            lambda r: 0 < (g := next(f for f in r["files"] if f["path"] == "examples/geometry.py"))["percent"] < 100
            and 23 in g["missed"] and r["exit_code"] == 0),
])
def measure_coverage(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace path of a script or test file, e.g. 'tests/test_inventory.py'")],
    mode: Annotated[Literal["auto", "script", "pytest", "unittest"], Field(
        description="How to run it: as a script, under pytest, under unittest; 'auto' uses pytest for test_*.py files")] = "auto",
    args: Args = [],
    timeout_seconds: Timeout = 20,
) -> CoverageResult:
    """Run a workspace script or test file in the sandbox and report which lines of each workspace
    Python file ran: executable and executed line counts, percent, and the missed line numbers."""
    file = s.path(path, must_exist=True)
    if not file.is_file() or file.suffix != ".py":
        raise ToolFailure(f"not a Python file: {path}")
    rel = s.rel(file)
    chosen = mode if mode != "auto" else ("pytest" if file.name.startswith("test_") else "script")
    report, run = s.drive(harness.COVERAGE, [rel, chosen, json.dumps(args)], timeout=timeout_seconds)
    return CoverageResult(path=rel, mode=chosen, exit_code=report["exit_code"], files=_covered(report), stdout=run.stdout)


class SandboxInfo(BaseModel):
    backend: str
    isolation: str
    python_version: str
    python_executable: str
    platform: str
    working_directory: str
    third_party_modules: list[str] = Field(description="Importable modules beyond the standard library")
    network_interfaces: list[str] = Field(description="Network interfaces the sandbox sees (only 'lo': no network)")
    cpu_seconds_default: int
    memory_mb: int
    max_processes: int
    max_file_mb: int
    max_output_bytes: int


@DOMAIN.tool(meaning=no_facts("describes the sandbox code runs in, not the workspace or the world"), kind="retrieval", timeout=RUN_TOOL_TIMEOUT, examples=[
    Example({}, lambda r: r["python_version"].startswith("3.") and "pytest" in r["third_party_modules"]
            and r["working_directory"] == "/workspace" and r["network_interfaces"] in ([], ["lo"])),
])
def sandbox_info(s: CodeState) -> SandboxInfo:
    """Describe the sandbox code runs in: Python version, importable third-party modules, limits, isolation."""
    from .sandbox import Limits

    report, _run = s.drive(harness.PROBE, [], timeout=15)
    described = s.sandbox.describe()
    limits = Limits()
    return SandboxInfo(
        backend=described["backend"], isolation=described["isolation"], python_version=report["python_version"],
        python_executable=report["executable"], platform=report["platform"], working_directory=report["cwd"],
        third_party_modules=report["third_party_modules"], network_interfaces=report["network_interfaces"],
        cpu_seconds_default=10, memory_mb=limits.memory_mb, max_processes=limits.max_processes,
        max_file_mb=limits.max_file_mb, max_output_bytes=limits.max_output_bytes,
    )
