"""Tools that read Python source without running it: syntax, metrics, definitions, imports, calls,
references, source extraction, and safe expression evaluation."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, clip_items, no_facts

from . import analysis
from .domain import DOMAIN, MAX_SOURCE_CHARS, CodeState, load_source
from .safe_eval import safe_eval, to_json_value

Code = Annotated[str, Field(description="Python source text (give this or `path`)")]
SourcePath = Annotated[str, Field(
    description="Workspace path of a Python file, e.g. 'examples/geometry.py' (give this or `code`)")]


class SyntaxCheck(BaseModel):
    valid: bool
    source: str
    error: str | None = Field(description="The syntax error message, e.g. \"expected ':'\"")
    line: int | None
    column: int | None
    text: str | None = Field(description="The offending line")
    python_version: str


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    facts=(Fact("valid", "whether {path} is syntactically valid Python"),
           Fact("line", "the line of the first syntax error in {path}"))), kind="processing", examples=[
    Example({"code": "def f(x):\n    return x * 2\n"}, lambda r: r["valid"] and r["error"] is None),
    Example({"code": "def f(x)\n    return x\n"}, lambda r: not r["valid"] and r["line"] == 1 and "expected ':'" in r["error"]),
    Example({"path": "examples/messy.py"}, lambda r: r["valid"]),
])
def check_syntax(s: CodeState, code: Code = "", path: SourcePath = "") -> SyntaxCheck:
    """Check whether Python source compiles; on failure give the error message, line, column and line text."""
    text, label = load_source(s, code, path)
    err = analysis.syntax_error(text, label)
    version = ".".join(map(str, sys.version_info[:3]))
    if err is None:
        return SyntaxCheck(valid=True, source=label, error=None, line=None, column=None, text=None, python_version=version)
    return SyntaxCheck(valid=False, source=label, error=err.msg, line=err.lineno, column=err.offset,
                       text=(err.text or "").rstrip("\n") or None, python_version=version)


class FunctionMetrics(BaseModel):
    name: str = Field(description="Qualified name: 'function', 'Class.method' or 'outer.inner'")
    line: int
    end_line: int
    lines: int
    complexity: int = Field(description="McCabe cyclomatic complexity")
    max_nesting: int
    parameters: int


class CodeMetrics(BaseModel):
    source: str
    total_lines: int
    code_lines: int
    comment_lines: int
    blank_lines: int
    docstring_lines: int
    functions: int = Field(description="Functions and methods, nested ones included")
    classes: int
    imports: int
    average_complexity: float | None = Field(description="Mean over the functions; null when there are none")
    max_complexity: int | None = Field(description="Highest of the functions'; null when there are none")
    most_complex: str | None
    per_function: list[FunctionMetrics]


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    facts=(Fact("total_lines", "the number of lines in {path}"),
           Fact("code_lines", "the number of lines of code in {path}"),
           Fact("comment_lines", "the number of comment lines in {path}"),
           Fact("blank_lines", "the number of blank lines in {path}"),
           Fact("docstring_lines", "the number of docstring lines in {path}"),
           Fact("functions", "the number of functions and methods defined in {path}"),
           Fact("classes", "the number of classes defined in {path}"),
           Fact("imports", "the number of import statements in {path}"),
           Fact("average_complexity", "the average cyclomatic complexity of the functions in {path}"),
           Fact("max_complexity", "the highest cyclomatic complexity of any function in {path}")),
    items=(Items("per_function", phrase="the functions and methods defined in {path}", total="functions", name="name",
                 name_type="function", name_by="name",
                 attributes={"lines": "length", "complexity": "cyclomatic complexity", "max_nesting": "nesting depth",
                             "parameters": "number of parameters"},
                 units={"lines": "lines"}),)), kind="processing", examples=[
    Example({"path": "examples/geometry.py"},
            lambda r: r["classes"] == 4 and r["functions"] == 12 and r["most_complex"] == "classify_triangle"
            and r["max_complexity"] == 7),
    Example({"code": "def f(x):\n    if x and x > 1:\n        return 1\n    return 0\n"},
            lambda r: r["per_function"][0]["complexity"] == 3 and r["total_lines"] == 4),
])
def python_metrics(s: CodeState, code: Code = "", path: SourcePath = "") -> CodeMetrics:
    """Measure Python source: line counts (code, comment, blank, docstring), counts of functions,
    classes and imports, and each function's cyclomatic complexity, nesting depth and length."""
    text, label = load_source(s, code, path)
    tree = analysis.parse(text, label)
    counts = analysis.count_lines(text, tree)
    per = []
    for name, fn, _cls in analysis.qualified_functions(tree):
        args = fn.args
        n_params = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs) + bool(args.vararg) + bool(args.kwarg)
        per.append(FunctionMetrics(name=name, line=fn.lineno, end_line=fn.end_lineno or fn.lineno,
                                   lines=(fn.end_lineno or fn.lineno) - fn.lineno + 1,
                                   complexity=analysis.cyclomatic_complexity(fn),
                                   max_nesting=analysis.nesting_depth(fn), parameters=n_params))
    worst = max(per, key=lambda f: (f.complexity, -f.line), default=None)
    listed, _ = clip_items(per)
    return CodeMetrics(
        source=label, total_lines=counts.total, code_lines=counts.code, comment_lines=counts.comment,
        blank_lines=counts.blank, docstring_lines=counts.docstring, functions=len(per),
        classes=len(analysis.qualified_classes(tree)), imports=len(analysis.imports_of(tree)),
        average_complexity=round(sum(f.complexity for f in per) / len(per), 2) if per else None,
        max_complexity=worst.complexity if worst else None, most_complex=worst.name if worst else None,
        per_function=listed,
    )


class FunctionDef(BaseModel):
    name: str = Field(description="Qualified name, e.g. 'Inventory.add'")
    signature: str
    line: int
    end_line: int
    is_async: bool
    is_method: bool
    decorators: list[str]
    docstring: str | None = Field(description="First line of the docstring")


class ClassDef(BaseModel):
    name: str
    line: int
    end_line: int
    bases: list[str]
    decorators: list[str]
    methods: list[str]
    docstring: str | None


class ModuleVariable(BaseModel):
    name: str
    line: int
    value: str = Field(description="The assigned expression as source text (shortened)")


class Definitions(BaseModel):
    source: str
    module_docstring: str | None
    classes: list[ClassDef]
    functions: list[FunctionDef]
    variables: list[ModuleVariable] = Field(description="Module-level assignments")


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    items=(Items("classes", phrase="the classes defined in {path}", name="name", name_type="class", name_by="name",
                 complete=True),
           Items("functions", phrase="the functions and methods defined in {path}", name="name", name_type="function",
                 name_by="name"))), kind="processing", examples=[
    Example({"path": "examples/inventory.py"},
            lambda r: [c["name"] for c in r["classes"]] == ["OutOfStock", "Item", "Inventory"]
            and next(c for c in r["classes"] if c["name"] == "Inventory")["methods"]
            == ["add", "remove", "total_value", "low_stock"]
            and next(f for f in r["functions"] if f["name"] == "Item.value")["decorators"] == ["property"]),
    Example({"code": "async def fetch(url: str, *, retries: int = 3) -> bytes:\n    ...\n"},
            lambda r: r["functions"][0]["signature"] == "async def fetch(url: str, *, retries: int=3) -> bytes"
            and r["functions"][0]["is_async"]),
])
def list_definitions(s: CodeState, code: Code = "", path: SourcePath = "") -> Definitions:
    """List what a Python module defines: classes (bases, methods, decorators), functions and methods
    (signatures, lines, decorators, docstring first lines) and module-level variables."""
    text, label = load_source(s, code, path)
    tree = analysis.parse(text, label)
    functions = [
        FunctionDef(name=name, signature=analysis.signature_of(fn), line=fn.lineno, end_line=fn.end_lineno or fn.lineno,
                    is_async=isinstance(fn, ast.AsyncFunctionDef), is_method=cls is not None,
                    decorators=[ast.unparse(d) for d in fn.decorator_list], docstring=analysis.first_doc_line(fn))
        for name, fn, cls in analysis.qualified_functions(tree)
    ]
    classes = [
        ClassDef(name=name, line=node.lineno, end_line=node.end_lineno or node.lineno,
                 bases=[ast.unparse(b) for b in node.bases], decorators=[ast.unparse(d) for d in node.decorator_list],
                 methods=[n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))],
                 docstring=analysis.first_doc_line(node))
        for name, node in analysis.qualified_classes(tree)
    ]
    variables = [ModuleVariable(name=n, line=line, value=v) for n, line, v in analysis.module_constants(tree)]
    return Definitions(source=label, module_docstring=analysis.first_doc_line(tree), classes=classes,
                       functions=clip_items(functions)[0], variables=clip_items(variables)[0])


class ImportEntry(BaseModel):
    module: str = Field(description="The imported module ('.' prefixes for relative imports)")
    names: list[str] = Field(description="Names bound or imported from it")
    line: int
    statement: Literal["import", "from"]
    category: Literal["stdlib", "workspace", "third_party", "relative"]


class ImportsReport(BaseModel):
    source: str
    imports: list[ImportEntry]
    stdlib: list[str]
    workspace: list[str]
    third_party: list[str]


def _workspace_module(state: CodeState, dotted: str) -> bool:
    parts = dotted.split(".")
    base = state.workspace.joinpath(*parts)
    return base.with_suffix(".py").is_file() or base.is_dir() or (state.workspace / f"{parts[0]}.py").is_file() \
        or (state.workspace / parts[0]).is_dir()


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    items=(Items("stdlib", phrase="the standard-library modules imported by {path}", complete=True),
           Items("workspace", phrase="the workspace modules imported by {path}", complete=True),
           Items("third_party", phrase="the third-party packages imported by {path}", complete=True))), kind="processing", examples=[
    Example({"path": "tests/test_inventory.py"},
            lambda r: r["stdlib"] == ["unittest"] and r["workspace"] == ["examples.inventory"]
            and r["imports"][1]["names"] == ["Inventory", "Item", "OutOfStock"]),
    Example({"code": "import os, numpy as np\nfrom . import sibling\nfrom collections import Counter\n"},
            lambda r: [i["category"] for i in r["imports"]] == ["stdlib", "third_party", "relative", "stdlib"]
            and r["third_party"] == ["numpy"]),
])
def list_imports(s: CodeState, code: Code = "", path: SourcePath = "") -> ImportsReport:
    """List a Python module's imports, each classified as standard library, workspace module,
    third-party package or relative import, with the names it binds and its line."""
    text, label = load_source(s, code, path)
    tree = analysis.parse(text, label)
    entries = []
    for rec in analysis.imports_of(tree):
        module = "." * rec.level + rec.module
        if rec.level:
            category = "relative"
        elif rec.module.split(".")[0] in sys.stdlib_module_names:
            category = "stdlib"
        elif _workspace_module(s, rec.module):
            category = "workspace"
        else:
            category = "third_party"
        entries.append(ImportEntry(module=module, names=rec.names, line=rec.line, statement=rec.kind, category=category))

    def modules(cat: str) -> list[str]:
        return sorted({e.module for e in entries if e.category == cat})

    return ImportsReport(source=label, imports=entries, stdlib=modules("stdlib"), workspace=modules("workspace"),
                         third_party=modules("third_party"))


class CallEdge(BaseModel):
    caller: str = Field(description="Qualified name of the calling function, or '<module>' for top-level code")
    callee: str = Field(description="The called name as written: 'print', 'self.area', 'math.sqrt'")
    line: int
    internal: bool = Field(description="True when the callee is a function or class defined in this source")


class CallGraph(BaseModel):
    source: str
    functions: list[str]
    calls: list[CallEdge]
    unused: list[str] = Field(description="Functions defined here that nothing here calls (methods excluded)")


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path")},
    items=(Items("unused", phrase="the functions defined in {path} that no code in the same file calls", name_type="function",
                 name_by="name", complete=True),)), kind="processing", examples=[
    Example({"path": "examples/fizzbuzz.py"},
            lambda r: {"caller": "<module>", "callee": "fizzbuzz", "line": 26, "internal": True} in r["calls"]
            and r["unused"] == []),
    Example({"code": "def a():\n    return b() + 1\n\ndef b():\n    return 2\n\ndef c():\n    return a()\n"},
            lambda r: [(e["caller"], e["callee"]) for e in r["calls"]] == [("a", "b"), ("c", "a")] and r["unused"] == ["c"]),
])
def call_graph(s: CodeState, code: Code = "", path: SourcePath = "") -> CallGraph:
    """Which function calls which in a Python module: one edge per call site (caller, callee, line),
    marking callees defined in the same source, and listing functions nothing here calls."""
    text, label = load_source(s, code, path)
    tree = analysis.parse(text, label)
    funcs = analysis.qualified_functions(tree)
    defined = {name.split(".")[-1] for name, _fn, _cls in funcs} | {n.split(".")[-1] for n, _ in analysis.qualified_classes(tree)}
    edges: list[CallEdge] = []

    def internal(callee: str) -> bool:
        head, _, tail = callee.rpartition(".")
        return (callee in defined) or (head in ("self", "cls", "super()") and tail in defined)

    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    module_level = ast.Module(body=[n for n in tree.body if not isinstance(n, definitions)], type_ignores=[])
    for callee, line in analysis.calls_in(module_level):
        edges.append(CallEdge(caller="<module>", callee=callee, line=line, internal=internal(callee)))
    for name, fn, _cls in funcs:
        for callee, line in analysis.calls_in(fn):
            edges.append(CallEdge(caller=name, callee=callee, line=line, internal=internal(callee)))
    edges.sort(key=lambda e: (e.line, e.caller, e.callee))
    called = {e.callee.split(".")[-1] for e in edges}
    unused = [name for name, _fn, cls in funcs if cls is None and "." not in name and name not in called]
    return CallGraph(source=label, functions=[n for n, _f, _c in funcs], calls=clip_items(edges)[0], unused=unused)


class Reference(BaseModel):
    path: str
    line: int
    column: int = Field(description="0-based column")
    role: Literal["definition", "parameter", "import", "assignment", "call", "attribute", "reference", "deletion"]
    text: str = Field(description="The source line")


class ReferencesResult(BaseModel):
    name: str
    count: int
    files: int
    references: list[Reference]
    truncated: bool
    skipped: list[str] = Field(description="Python files that could not be parsed")


def _python_files(state: CodeState, under: str) -> list[Path]:
    root = state.path(under, must_exist=True)
    if root.is_file():
        return [root]
    found = []
    for p in sorted(root.rglob("*.py")):
        if p.is_symlink():
            continue
        try:
            state.path(state.rel(p))
        except ToolFailure:
            continue
        found.append(p)
    return found


@DOMAIN.tool(meaning=Meaning(
    takes={"name": Takes("function", "name", sets={"path": "."}), "path": Takes("directory", "path")},
    facts=(Fact("count", "the number of mentions of {name} in the Python files under {path}"),
           Fact("files", "the number of Python files under {path} with a mention of {name}")),
    items=(Items("references", phrase="the mentions of {name} in the Python files under {path}",
                 total="count", complete_unless="truncated",
                 attributes={"role": "kind of occurrence"}),)), kind="retrieval", examples=[
    Example({"name": "OutOfStock"},
            lambda r: {(x["path"], x["role"]) for x in r["references"]} >= {("examples/inventory.py", "definition"),
                                                                          ("tests/test_inventory.py", "import")}
            and r["files"] == 2),
    Example({"name": "total_value", "path": "examples"},
            lambda r: r["count"] == 1 and r["references"][0]["role"] == "definition"),
])
def find_references(
    s: CodeState,
    name: Annotated[str, Field(description="An identifier: a function, class, method, attribute or variable name",
                               pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
    path: Annotated[str, Field(description="Workspace folder or file to search, '.' for all")] = ".",
) -> ReferencesResult:
    """Find every place a name is defined, imported, assigned, called or used across the workspace's
    Python files (parsed, so strings and comments do not match)."""
    if not name.isidentifier():
        raise ToolFailure(f"{name!r} is not a Python identifier")
    refs: list[Reference] = []
    skipped: list[str] = []
    for file in _python_files(s, path):
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            skipped.append(s.rel(file))
            continue
        lines = text.splitlines()
        for line, col, role in analysis.name_occurrences(tree, name):
            refs.append(Reference(path=s.rel(file), line=line, column=col, role=role,
                                  text=lines[line - 1].strip() if 0 < line <= len(lines) else ""))
    listed, truncated = clip_items(refs)
    return ReferencesResult(name=name, count=len(refs), files=len({r.path for r in refs}), references=listed,
                            truncated=truncated, skipped=skipped)


class SourceSegment(BaseModel):
    path: str
    name: str
    kind: Literal["function", "class"]
    line: int
    end_line: int
    source: str


@DOMAIN.tool(meaning=Meaning(
    takes={"path": Takes("python_file", "path"), "name": Takes("function", "name")},
    facts=(Fact("line", "the first line of the definition of {name} in {path}"),
           Fact("end_line", "the last line of the definition of {name} in {path}"))), kind="retrieval", examples=[
    Example({"path": "examples/inventory.py", "name": "Inventory.remove"},
            lambda r: r["kind"] == "function" and "raise OutOfStock(sku)" in r["source"]
            and r["source"].lstrip().startswith("def remove")),
    Example({"path": "examples/geometry.py", "name": "Square"},
            lambda r: r["kind"] == "class" and r["end_line"] - r["line"] == 2),
])
def get_source(
    s: CodeState,
    path: Annotated[str, Field(description="Workspace path of a Python file")],
    name: Annotated[str, Field(description="Function, class or method name; qualify methods as 'Class.method'")],
) -> SourceSegment:
    """Return the source code of one function, method or class from a workspace Python file, with its line range."""
    text, label = load_source(s, None, path)
    tree = analysis.parse(text, label)
    candidates: list[tuple[str, ast.AST, str]] = [(n, fn, "function") for n, fn, _c in analysis.qualified_functions(tree)]
    candidates += [(n, node, "class") for n, node in analysis.qualified_classes(tree)]
    matches = [c for c in candidates if c[0] == name] or [c for c in candidates if c[0].split(".")[-1] == name]
    if not matches:
        known = ", ".join(sorted(c[0] for c in candidates)[:40])
        raise ToolFailure(f"{name!r} is not defined in {label}; defined there: {known or 'nothing'}")
    if len(matches) > 1:
        raise ToolFailure(f"{name!r} is ambiguous in {label}: {', '.join(m[0] for m in matches)}; use the qualified name")
    qual, node, kind = matches[0]
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    end = node.end_lineno or node.lineno
    lines = text.splitlines()
    return SourceSegment(path=label, name=qual, kind=kind, line=start, end_line=end, source="\n".join(lines[start - 1:end]))


class EvalResult(BaseModel):
    expression: str
    value: Any = Field(description="The result in JSON form (tuples and sets become lists)")
    repr: str = Field(description="Python repr of the result")
    type: str = Field(description="Python type name of the result")


@DOMAIN.tool(meaning=no_facts("evaluates an expression the caller writes; a question would have to spell the expression out"), kind="processing", examples=[
    Example({"expression": "2 ** 10 + math.sqrt(16)"}, lambda r: r["value"] == 1028.0 and r["type"] == "float"),
    Example({"expression": "sum(x * x for x in range(1, 11))"}, lambda r: r["value"] == 385 and r["type"] == "int"),
    Example({"expression": "round(price * qty * (1 - discount), 2)", "variables": {"price": 19.99, "qty": 3, "discount": 0.15}},
            lambda r: r["value"] == 50.97),
    Example({"expression": "sorted({'b': 2, 'a': 1}.items())"}, lambda r: r["value"] == [["a", 1], ["b", 2]]),
])
def eval_expression(
    s: CodeState,
    expression: Annotated[str, Field(max_length=10_000, description=(
        "A Python expression, e.g. \"statistics.mean([3, 5, 10])\" or \"'-'.join(sorted(words))\""))],
    variables: Annotated[dict[str, Any], Field(description="Values for names used in the expression")] = {},
) -> EvalResult:
    """Evaluate one Python expression safely, without a sandbox: arithmetic, comparisons, literals,
    comprehensions, f-strings, built-ins like len/sum/min/max/sorted/round, math.* and statistics.*
    functions, common string methods, and your `variables`. No imports, attribute tricks or statements;
    very large numbers and sequences are refused. Use run_python for anything more."""
    value = safe_eval(expression, variables)
    return EvalResult(expression=expression, value=to_json_value(value), repr=repr(value)[:MAX_SOURCE_CHARS // 10],
                      type=type(value).__name__)
