"""Static analysis of Python source with `ast` and `tokenize`: nothing here runs the code it reads."""

from __future__ import annotations

import ast
import io
import sys
import token
import tokenize
from dataclasses import dataclass

from dive.servers.kit import ToolFailure


def parse(source: str, filename: str = "<code>") -> ast.Module:
    """Parse Python source, or fail with the line and column of the syntax error."""
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise ToolFailure(
            f"{filename} is not valid Python: {exc.msg} at line {exc.lineno}, column {exc.offset}; "
            "fix the syntax (check_syntax shows where) and try again"
        ) from None


# -- line counts ------------------------------------------------------------------------------------

@dataclass
class LineCounts:
    total: int
    code: int
    comment: int
    blank: int
    docstring: int


def count_lines(source: str, tree: ast.Module) -> LineCounts:
    """Physical lines by kind. A line with code and a trailing comment counts as code."""
    lines = source.splitlines()
    doc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                doc_lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    code_lines: set[int] = set()
    comment_lines: set[int] = set()
    skip = {token.COMMENT, token.NL, token.NEWLINE, token.INDENT, token.DEDENT, token.ENCODING, token.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == token.COMMENT:
            comment_lines.add(tok.start[0])
        elif tok.type not in skip:
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    code_lines -= doc_lines
    blank = sum(1 for line in lines if not line.strip())
    comment_only = comment_lines - code_lines - doc_lines
    return LineCounts(total=len(lines), code=len(code_lines), comment=len(comment_only), blank=blank,
                      docstring=len(doc_lines))


# -- complexity --------------------------------------------------------------------------------------

_BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.IfExp, ast.ExceptHandler, ast.With, ast.AsyncWith,
             ast.Assert, ast.match_case)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def cyclomatic_complexity(fn: ast.AST) -> int:
    """McCabe complexity of one function: 1 + if/elif, for, while, except, with, assert, ternary,
    match case, each extra and/or operand, and each comprehension `for`/`if`. Nested functions and
    classes are measured on their own, not added to the enclosing function."""
    score = 1
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, _BRANCHES):
            score += 1
        elif isinstance(node, ast.BoolOp):
            score += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            score += 1 + len(node.ifs)
        stack.extend(ast.iter_child_nodes(node))
    return score


def nesting_depth(fn: ast.AST) -> int:
    """Deepest nesting of blocks (if/for/while/with/try/match) inside a function body."""
    blocks = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match)
    if sys.version_info >= (3, 11):
        blocks = blocks + (ast.TryStar,)

    def depth(node: ast.AST) -> int:
        best = 0
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _SCOPES):
                continue
            inner = depth(child)
            best = max(best, inner + 1 if isinstance(child, blocks) else inner)
        return best

    return depth(fn)


def qualified_functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, str | None]]:
    """Every function and method with its qualified name ('Class.method', 'outer.inner') and class."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, str | None]] = []

    def visit(node: ast.AST, prefix: str, cls: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append((name, child, cls))
                visit(child, f"{name}.", None)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.", child.name)
            else:
                visit(child, prefix, cls)

    visit(tree, "", None)
    return found


def qualified_classes(tree: ast.Module) -> list[tuple[str, ast.ClassDef]]:
    found: list[tuple[str, ast.ClassDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                found.append((f"{prefix}{child.name}", child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def signature_of(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The def line as written, without the body: 'def name(a: int, b=2) -> str'."""
    args = ast.unparse(fn.args)
    returns = f" -> {ast.unparse(fn.returns)}" if fn.returns else ""
    prefix = "async def" if isinstance(fn, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {fn.name}({args}){returns}"


def first_doc_line(node: ast.AST) -> str | None:
    doc = ast.get_docstring(node) if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) else None
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def module_constants(tree: ast.Module) -> list[tuple[str, int, str]]:
    """Top-level assigned names: (name, line, value source, shortened)."""
    found = []
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    text = ast.unparse(value) if value is not None else ""
                    found.append((name.id, node.lineno, text if len(text) <= 120 else text[:117] + "..."))
    return found


# -- imports -----------------------------------------------------------------------------------------

@dataclass
class ImportRecord:
    module: str
    names: list[str]
    line: int
    kind: str  # "import" or "from"
    level: int


def imports_of(tree: ast.Module) -> list[ImportRecord]:
    found: list[tuple[int, int, int, ImportRecord]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for i, alias in enumerate(node.names):
                found.append((node.lineno, node.col_offset, i,
                              ImportRecord(alias.name, [alias.asname or alias.name], node.lineno, "import", 0)))
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.col_offset, 0, ImportRecord(node.module or "", [a.name for a in node.names],
                                                                         node.lineno, "from", node.level)))
    return [rec for *_key, rec in sorted(found, key=lambda f: f[:3])]


# -- names and calls ---------------------------------------------------------------------------------

def call_name(node: ast.Call) -> str | None:
    """'print', 'self.add', 'math.sqrt', 'os.path.join' for a call; None for calls of expressions."""
    parts = []
    target = node.func
    while isinstance(target, ast.Attribute):
        parts.append(target.attr)
        target = target.value
    if isinstance(target, ast.Name):
        parts.append(target.id)
        return ".".join(reversed(parts))
    return None


def calls_in(fn: ast.AST) -> list[tuple[str, int]]:
    """Calls made directly in a function body (not in nested functions), in source order."""
    found = []
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES) and not isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            name = call_name(node)
            if name:
                found.append((name, node.lineno))
        stack.extend(ast.iter_child_nodes(node))
    return sorted(found, key=lambda c: (c[1], c[0]))


def name_occurrences(tree: ast.Module, name: str) -> list[tuple[int, int, str]]:
    """Where `name` occurs: (line, column, role) with role one of definition, parameter, import,
    assignment, call, attribute, reference, deletion."""
    hits: list[tuple[int, int, str]] = []
    called: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called.add(id(node.func))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            col = node.col_offset + (len("async def ") if isinstance(node, ast.AsyncFunctionDef) else
                                     len("class ") if isinstance(node, ast.ClassDef) else len("def "))
            hits.append((node.lineno, col, "definition"))
        elif isinstance(node, ast.arg) and node.arg == name:
            hits.append((node.lineno, node.col_offset, "parameter"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if bound == name or alias.name == name:
                    hits.append((node.lineno, node.col_offset, "import"))
        elif isinstance(node, ast.Name) and node.id == name:
            if isinstance(node.ctx, ast.Store):
                role = "assignment"
            elif isinstance(node.ctx, ast.Del):
                role = "deletion"
            else:
                role = "call" if id(node) in called else "reference"
            hits.append((node.lineno, node.col_offset, role))
        elif isinstance(node, ast.Attribute) and node.attr == name:
            col = (node.end_col_offset or 0) - len(name) if node.end_lineno == node.lineno else node.col_offset
            role = "call" if id(node) in called else ("assignment" if isinstance(node.ctx, ast.Store) else "attribute")
            hits.append((node.end_lineno or node.lineno, col, role))
    return sorted(set(hits))


# -- syntax ------------------------------------------------------------------------------------------

def syntax_error(source: str, filename: str = "<code>") -> SyntaxError | None:
    """The first syntax error in `source` (compile-time checks included), or None."""
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # null bytes
        err = SyntaxError(str(exc))
        err.lineno, err.offset = 1, 1
        return err
    return None
