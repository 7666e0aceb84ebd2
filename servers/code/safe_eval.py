"""Evaluating a Python expression without running arbitrary code.

The expression is parsed and walked node by node: only literals, arithmetic, comparisons, boolean
logic, conditional expressions, subscripts, comprehensions, f-strings, a fixed set of built-in and
`math`/`statistics` functions, a few string methods, and caller-supplied variables are allowed. There
is no attribute access beyond those, no imports, no assignment, no lambdas. Sizes are bounded so an
expression cannot exhaust memory or time (huge powers, long repetitions, long ranges are refused).
"""

from __future__ import annotations

import ast
import math
import operator
import re
import statistics
from collections.abc import Callable, Iterable
from typing import Any

from dive.servers.kit import ToolFailure

MAX_INT_BITS = 100_000
MAX_SEQUENCE = 100_000
MAX_STEPS = 1_000_000


class EvalRefused(ToolFailure):
    """The expression uses something the safe evaluator does not allow."""


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise EvalRefused(f"range of {len(r)} items is over the {MAX_SEQUENCE}-item limit")
    return r


def _bounded_factorial(n: int) -> int:
    if n > 5000:
        raise EvalRefused("factorial is limited to n <= 5000")
    return math.factorial(n)


def _bounded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is None:
        _check_power(base, exp)
        return base ** exp
    return pow(base, exp, mod)


def _bounded_prod(values: Iterable[Any], *, start: Any = 1) -> Any:
    result = start
    for value in values:
        _check_product(result, value)
        result = result * value
    return result


def _bounded_choose(fn: Callable[..., int]) -> Callable[..., int]:
    def call(n: int, k: int | None = None) -> int:
        if n > 20_000:
            raise EvalRefused(f"{fn.__name__} is limited to n <= 20000")
        return fn(n) if k is None else fn(n, k)

    return call


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise EvalRefused(f"the product would have more than {MAX_INT_BITS} bits")


def _check_power(base: Any, exp: Any) -> None:
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        if base.bit_length() * exp > MAX_INT_BITS:
            raise EvalRefused(f"{base}**{exp} would have more than {MAX_INT_BITS} bits (the size limit)")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "all": all, "any": any, "bin": bin, "bool": bool, "chr": chr, "dict": dict, "divmod": divmod,
    "enumerate": lambda it, start=0: list(enumerate(it, start)), "float": float, "hex": hex, "int": int,
    "len": len, "list": list, "max": max, "min": min, "oct": oct, "ord": ord, "pow": _bounded_pow,
    "range": _bounded_range, "reversed": lambda it: list(reversed(it)), "round": round, "set": set,
    "sorted": sorted, "str": str, "sum": sum, "tuple": tuple, "zip": lambda *its: list(zip(*its)),
}
MATH_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(math, name)
    for name in ("sqrt", "isqrt", "floor", "ceil", "trunc", "exp", "log", "log2", "log10", "sin", "cos", "tan",
                 "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "hypot", "degrees", "radians", "gcd",
                 "lcm", "comb", "perm", "fsum", "prod", "isclose", "copysign", "fabs", "fmod", "dist", "isfinite")
}
MATH_FUNCTIONS.update(factorial=_bounded_factorial, prod=_bounded_prod, comb=_bounded_choose(math.comb),
                      perm=_bounded_choose(math.perm))
STATISTICS_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(statistics, name)
    for name in ("mean", "fmean", "geometric_mean", "harmonic_mean", "median", "median_low", "median_high",
                 "mode", "multimode", "pstdev", "pvariance", "stdev", "variance", "quantiles")
}
CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan,
             "True": True, "False": False, "None": None}
STRING_METHODS = frozenset({
    "upper", "lower", "title", "capitalize", "casefold", "strip", "lstrip", "rstrip", "split", "rsplit",
    "splitlines", "join", "replace", "count", "find", "rfind", "index", "startswith", "endswith", "isdigit",
    "isalpha", "isalnum", "isspace", "isupper", "islower", "zfill", "center", "ljust", "rjust", "partition",
    "removeprefix", "removesuffix", "swapcase",
})
SEQUENCE_METHODS = frozenset({"count", "index"})
DICT_METHODS = frozenset({"keys", "values", "items", "get"})

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.MatMult: operator.matmul,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_,
                                             ast.Invert: operator.invert}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


class _Evaluator:
    def __init__(self, variables: dict[str, Any]) -> None:
        self.scopes: list[dict[str, Any]] = [dict(CONSTANTS), dict(variables)]
        self.steps = 0

    def eval(self, node: ast.AST) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise EvalRefused(f"the expression took more than {MAX_STEPS} evaluation steps")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise EvalRefused(f"{type(node).__name__} is not allowed in a safe expression")
        return method(node)

    def _Expression(self, node: ast.Expression) -> Any:
        return self.eval(node.body)

    def _Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        for scope in reversed(self.scopes):
            if node.id in scope:
                return scope[node.id]
        if node.id in FUNCTIONS:
            return FUNCTIONS[node.id]
        raise EvalRefused(f"unknown name {node.id!r}; pass it in `variables` or use an allowed function")

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        op = type(node.op)
        if op is ast.Pow:
            _check_power(left, right)
        elif op is ast.Mult:
            _check_product(left, right)
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                    raise EvalRefused(f"repetition would make {len(seq) * n} items, over the {MAX_SEQUENCE}-item limit")
        elif op is ast.LShift and isinstance(left, int) and isinstance(right, int) and left.bit_length() + right > MAX_INT_BITS:
            raise EvalRefused(f"shift by {right} bits is over the {MAX_INT_BITS}-bit limit")
        return _BINOPS[op](left, right)

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self.eval(node.operand))

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.eval(operand)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _Compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def _List(self, node: ast.List) -> Any:
        return [self.eval(e) for e in node.elts]

    def _Tuple(self, node: ast.Tuple) -> Any:
        return tuple(self.eval(e) for e in node.elts)

    def _Set(self, node: ast.Set) -> Any:
        return {self.eval(e) for e in node.elts}

    def _Dict(self, node: ast.Dict) -> Any:
        if any(k is None for k in node.keys):
            raise EvalRefused("dict unpacking (**) is not allowed")
        return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]

    def _Subscript(self, node: ast.Subscript) -> Any:
        return self.eval(node.value)[self.eval(node.slice)]

    def _Slice(self, node: ast.Slice) -> Any:
        return slice(*(self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step)))

    def _JoinedStr(self, node: ast.JoinedStr) -> Any:
        return "".join(str(self.eval(v)) for v in node.values)

    def _FormattedValue(self, node: ast.FormattedValue) -> Any:
        value = self.eval(node.value)
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion == ord("s"):
            value = str(value)
        elif node.conversion == ord("a"):
            value = ascii(value)
        spec = self.eval(node.format_spec) if node.format_spec is not None else ""
        if any(int(n) > MAX_SEQUENCE for n in re.findall(r"\d+", spec)):
            raise EvalRefused(f"format spec {spec!r} asks for more than {MAX_SEQUENCE} characters")
        return format(value, spec)

    def _Attribute(self, node: ast.Attribute) -> Any:
        if isinstance(node.value, ast.Name) and node.value.id in ("math", "statistics"):
            table = MATH_FUNCTIONS if node.value.id == "math" else STATISTICS_FUNCTIONS
            if node.attr in table:
                return table[node.attr]
            if node.value.id == "math" and node.attr in ("pi", "e", "tau", "inf", "nan"):
                return getattr(math, node.attr)
            raise EvalRefused(f"{node.value.id}.{node.attr} is not among the allowed functions")
        owner = self.eval(node.value)
        allowed = (STRING_METHODS if isinstance(owner, str) else DICT_METHODS if isinstance(owner, dict)
                   else SEQUENCE_METHODS if isinstance(owner, (list, tuple)) else frozenset())
        if node.attr not in allowed:
            raise EvalRefused(f"attribute .{node.attr} of a {type(owner).__name__} is not allowed")
        return getattr(owner, node.attr)

    def _Call(self, node: ast.Call) -> Any:
        fn = self.eval(node.func)
        if not callable(fn):
            raise EvalRefused(f"{ast.unparse(node.func)} is not a function")
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.extend(self.eval(arg.value))
            else:
                args.append(self.eval(arg))
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise EvalRefused("keyword unpacking (**) is not allowed")
            kwargs[kw.arg] = self.eval(kw.value)
        if getattr(fn, "__name__", "") in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int) \
                and args[0] > MAX_SEQUENCE:
            raise EvalRefused(f"a width of {args[0]} is over the {MAX_SEQUENCE}-character limit")
        result = fn(*args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_SEQUENCE:
            raise EvalRefused(f"a string of {len(result)} characters is over the {MAX_SEQUENCE} limit")
        return result

    def _comprehend(self, generators: list[ast.comprehension], emit: Callable[[], None]) -> None:
        def loop(i: int) -> None:
            if i == len(generators):
                emit()
                return
            gen = generators[i]
            for item in self.eval(gen.iter):
                self.scopes.append({})
                try:
                    self._bind(gen.target, item)
                    if all(self.eval(cond) for cond in gen.ifs):
                        loop(i + 1)
                finally:
                    self.scopes.pop()

        loop(0)

    def _bind(self, target: ast.AST, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scopes[-1][target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = list(value)
            if len(values) != len(target.elts):
                raise EvalRefused("cannot unpack: wrong number of values")
            for t, v in zip(target.elts, values):
                self._bind(t, v)
        else:
            raise EvalRefused("comprehension targets must be names or tuples of names")

    def _collect(self, node: ast.AST, make: Callable[[], Any], add: Callable[[Any], None]) -> None:
        count = 0

        def emit() -> None:
            nonlocal count
            count += 1
            if count > MAX_SEQUENCE:
                raise EvalRefused(f"a comprehension produced more than {MAX_SEQUENCE} items")
            add(make())

        self._comprehend(node.generators, emit)  # type: ignore[attr-defined]

    def _ListComp(self, node: ast.ListComp) -> Any:
        out: list[Any] = []
        self._collect(node, lambda: self.eval(node.elt), out.append)
        return out

    def _GeneratorExp(self, node: ast.GeneratorExp) -> Any:
        return self._ListComp(node)  # type: ignore[arg-type]

    def _SetComp(self, node: ast.SetComp) -> Any:
        out: set[Any] = set()
        self._collect(node, lambda: self.eval(node.elt), out.add)
        return out

    def _DictComp(self, node: ast.DictComp) -> Any:
        out: dict[Any, Any] = {}
        self._collect(node, lambda: (self.eval(node.key), self.eval(node.value)), lambda kv: out.__setitem__(*kv))
        return out


def safe_eval(expression: str, variables: dict[str, Any] | None = None) -> Any:
    """Evaluate `expression` with the allowed operations only; EvalRefused for anything else."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolFailure(f"not a valid Python expression: {exc.msg} (column {exc.offset})") from None
    for name in variables or {}:
        if not name.isidentifier():
            raise ToolFailure(f"variable name {name!r} is not a Python identifier")
    return _Evaluator(dict(variables or {})).eval(tree)


def to_json_value(value: Any) -> Any:
    """A JSON-compatible form of an evaluation result (tuples and sets become lists, sets sorted)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items: Iterable[Any] = value
        try:
            items = sorted(value)
        except TypeError:
            pass
        return [to_json_value(v) for v in items]
    if isinstance(value, (list, tuple, range)):
        return [to_json_value(v) for v in value]
    return repr(value)
