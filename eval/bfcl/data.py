"""Loading the Berkeley Function Calling Leaderboard's data into typed records.

The data is the leaderboard's own, read from the PyPI package `bfcl-eval` (installed with `--no-deps`;
see `eval/bfcl/__init__.py`): question files `data/BFCL_v4_<category>.json`, possible-answer files
`data/possible_answer/BFCL_v4_<category>.json` and, for multi-turn, the function docs of each
executable class in `data/multi_turn_func_doc/`. Each file holds one JSON object per line.

Benchmark: S. G. Patil, H. Mao, F. Yan, C. C.-J. Ji, V. Suresh, I. Stoica, J. E. Gonzalez,
"The Berkeley Function Calling Leaderboard (BFCL): From Tool Use to Agentic Evaluation of Large
Language Models", ICML 2025; data and executable classes from the `bfcl-eval` package (Apache-2.0).
The loader and the schema conversion here are our own code.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

#: The single-turn categories the AST checker scores (name -> the file's category name).
SINGLE_TURN_CATEGORIES: dict[str, str] = {
    "simple": "simple_python",
    "multiple": "multiple",
    "parallel": "parallel",
    "parallel_multiple": "parallel_multiple",
    "live_simple": "live_simple",
    "live_multiple": "live_multiple",
    "live_parallel": "live_parallel",
    "live_parallel_multiple": "live_parallel_multiple",
}
#: The multi-turn categories whose entries run on the executable classes (see `dive.eval.bfcl.multi_turn`).
MULTI_TURN_CATEGORIES: dict[str, str] = {"multi_turn_base": "multi_turn_base"}
CATEGORIES: tuple[str, ...] = (*SINGLE_TURN_CATEGORIES, *MULTI_TURN_CATEGORIES)

#: Each executable multi-turn class, with its module inside `bfcl_eval` and its function-doc file.
MULTI_TURN_CLASSES: dict[str, tuple[str, str]] = {
    "GorillaFileSystem": ("gorilla_file_system", "gorilla_file_system.json"),
    "MathAPI": ("math_api", "math_api.json"),
    "MessageAPI": ("message_api", "message_api.json"),
    "TwitterAPI": ("posting_api", "posting_api.json"),
    "TicketAPI": ("ticket_api", "ticket_api.json"),
    "TradingBot": ("trading_bot", "trading_bot.json"),
    "TravelAPI": ("travel_booking", "travel_booking.json"),
    "VehicleControlAPI": ("vehicle_control", "vehicle_control.json"),
}

_INSTALL_HINT = "install it with `pip install --no-deps bfcl-eval mpmath` (its full dependency set pulls in torch)"

# BFCL's parameter types are Python-flavoured; JSON Schema has no dict, float or tuple.
_JSON_TYPES = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "number": "number",
    "integer": "integer",
    "int": "integer",
    "string": "string",
    "str": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "tuple": "array",
    "null": "null",
}
_ANY_TYPES = {"any", ""}
# Keywords copied as they are; BFCL's own extras ("optional") are dropped.
_KEPT_KEYWORDS = ("description", "enum", "default", "format", "minimum", "maximum", "pattern",
                  "minItems", "maxItems", "minLength", "maxLength")


class BFCLDataError(RuntimeError):
    """The BFCL data could not be found or read; the message says what is missing and how to mend it."""


class ChatMessage(BaseModel):
    """One chat message of a user turn, as the leaderboard gives it."""

    role: str
    content: str


class FunctionCall(BaseModel):
    """A call a model made (or a ground-truth call): a function name and its arguments.

    `arguments` may be given as a JSON object text (the OpenAI wire form); it is decoded."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("arguments", mode="before")
    @classmethod
    def _decode_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return {} if value is None else value


class FunctionDoc(BaseModel):
    """One function the model is offered, in BFCL's own form, with its JSON-Schema tool form."""

    name: str
    """BFCL's name; it may contain dots (`math.factorial`)."""
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """BFCL's parameter spec as shipped (types such as "dict", "float", "tuple", "any")."""
    class_name: str | None = None
    """For multi-turn: the executable class the function is a method of."""

    @property
    def tool_name(self) -> str:
        """The name the tool is exposed under (OpenAI and MCP names allow no dots)."""
        return tool_name(self.name)

    def json_schema(self) -> dict[str, Any]:
        """The parameters as a JSON Schema (an object schema)."""
        schema = to_json_schema(self.parameters)
        schema["type"] = "object"
        schema.setdefault("properties", {})
        return schema

    def tool_schema(self) -> dict[str, Any]:
        """The OpenAI tool form: `{"type": "function", "function": {"name", "description", "parameters"}}`."""
        return {
            "type": "function",
            "function": {"name": self.tool_name, "description": self.description, "parameters": self.json_schema()},
        }


class BFCLEntry(BaseModel):
    """One test entry of a category: the user turns, the functions offered and what counts as right."""

    id: str
    category: str
    turns: list[list[ChatMessage]]
    """The user turns; single-turn categories have exactly one."""
    functions: list[FunctionDoc]
    possible_answer: list[dict[str, dict[str, list[Any]]]] = Field(default_factory=list)
    """Single-turn: one `{function_name: {param: [allowed values...]}}` per expected call; "" among
    the allowed values means the parameter may be left out."""
    ground_truth: list[list[str]] = Field(default_factory=list)
    """Multi-turn: for each turn, the calls that solve it, as call text (`cd(folder='document')`)."""
    initial_config: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Multi-turn: each class's starting state."""
    involved_classes: list[str] = Field(default_factory=list)
    excluded_functions: list[str] = Field(default_factory=list)
    """Multi-turn: methods of the involved classes that are not offered in this entry."""

    @property
    def is_multi_turn(self) -> bool:
        return self.category in MULTI_TURN_CATEGORIES

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The OpenAI tool schemas of every function offered."""
        return [f.tool_schema() for f in self.functions]


def tool_name(bfcl_name: str) -> str:
    """The exposed form of a BFCL function name: characters outside `[A-Za-z0-9_-]` become `_`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", bfcl_name)[:64]


def to_json_schema(spec: Any) -> dict[str, Any]:
    """Convert one BFCL parameter spec (recursively) into valid JSON Schema.

    "dict" becomes "object", "float" "number", "tuple" "array"; "any" (or no type) places no
    constraint on the type. Unknown types raise `BFCLDataError`."""
    if not isinstance(spec, dict):
        raise BFCLDataError(f"a BFCL parameter spec must be an object, got {spec!r}")
    out: dict[str, Any] = {}
    kind = spec.get("type")
    if isinstance(kind, list):
        kinds = [_json_type(k) for k in kind]
        if None not in kinds:
            out["type"] = sorted(set(kinds), key=kinds.index)
    elif kind is not None:
        mapped = _json_type(kind)
        if mapped is not None:
            out["type"] = mapped
    for key in _KEPT_KEYWORDS:
        if key in spec:
            out[key] = spec[key]
    if "description" in out and not isinstance(out["description"], str):
        out["description"] = str(out["description"])
    if isinstance(spec.get("properties"), dict):
        out["properties"] = {str(k): to_json_schema(v) for k, v in spec["properties"].items()}
    if isinstance(spec.get("required"), list):
        out["required"] = [r for r in dict.fromkeys(spec["required"]) if isinstance(r, str)]
    items = spec.get("items")
    if isinstance(items, dict):
        out["items"] = to_json_schema(items)
    elif isinstance(items, list):
        out["prefixItems"] = [to_json_schema(i) for i in items]
    extra = spec.get("additionalProperties")
    if isinstance(extra, bool):
        out["additionalProperties"] = extra
    elif isinstance(extra, dict):
        out["additionalProperties"] = to_json_schema(extra)
    return out


def _json_type(kind: Any) -> str | None:
    if not isinstance(kind, str):
        raise BFCLDataError(f"a BFCL parameter type must be a string, got {kind!r}")
    if kind.lower() in _ANY_TYPES:
        return None
    try:
        return _JSON_TYPES[kind.lower()]
    except KeyError:
        raise BFCLDataError(f"unknown BFCL parameter type {kind!r}") from None


def data_dir() -> Path:
    """The `data` folder of the installed `bfcl-eval` package (found without importing it)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise BFCLDataError(f"the BFCL data comes from the PyPI package bfcl-eval, which is not installed; {_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        folder = Path(location) / "data"
        if folder.is_dir():
            return folder
    raise BFCLDataError(f"the installed bfcl-eval package has no data folder; reinstall it ({_INSTALL_HINT})")


def _category_file(folder: Path, file_category: str) -> Path:
    """The newest-version file of a category (`BFCL_v4_<category>.json`, or a later version)."""
    pattern = re.compile(rf"BFCL_v(\d+)_{re.escape(file_category)}\.json")
    found = [(int(m.group(1)), p) for p in folder.glob("BFCL_v*.json") if (m := pattern.fullmatch(p.name))]
    if not found:
        raise BFCLDataError(f"no BFCL file for category {file_category!r} in {folder}")
    return max(found)[1]


@functools.lru_cache(maxsize=64)
def _read_lines(path: Path) -> tuple[dict[str, Any], ...]:
    try:
        with path.open(encoding="utf-8") as fh:
            return tuple(json.loads(line) for line in fh if line.strip())
    except (OSError, json.JSONDecodeError) as exc:
        raise BFCLDataError(f"could not read BFCL file {path}: {exc}") from exc


def _canonical(category: str) -> str:
    if category in CATEGORIES:
        return category
    for name, file_category in SINGLE_TURN_CATEGORIES.items():
        if category == file_category:
            return name
    raise BFCLDataError(f"unknown BFCL category {category!r}; supported: {', '.join(CATEGORIES)}")


def class_function_docs(class_name: str, *, data_folder: Path | None = None) -> list[FunctionDoc]:
    """The function docs of one executable multi-turn class (one per public method)."""
    if class_name not in MULTI_TURN_CLASSES:
        raise BFCLDataError(f"unknown BFCL class {class_name!r}; known: {', '.join(MULTI_TURN_CLASSES)}")
    folder = (data_folder or data_dir()) / "multi_turn_func_doc"
    rows = _read_lines(folder / MULTI_TURN_CLASSES[class_name][1])
    return [FunctionDoc(name=r["name"], description=r.get("description", ""), parameters=r.get("parameters", {}),
                        class_name=class_name) for r in rows]


def load_category(category: str, *, data_folder: Path | None = None) -> list[BFCLEntry]:
    """All entries of a category, with their possible answers.

    `category`: one of `CATEGORIES` (`simple` also answers to its file name `simple_python`).
    `data_folder`: a folder laid out like the package's `data` (default: the installed package's)."""
    name = _canonical(category)
    file_category = SINGLE_TURN_CATEGORIES.get(name) or MULTI_TURN_CATEGORIES[name]
    folder = data_folder or data_dir()
    questions = _read_lines(_category_file(folder, file_category))
    answers = {a["id"]: a for a in _read_lines(_category_file(folder / "possible_answer", file_category))}
    entries = []
    for q in questions:
        answer = answers.get(q["id"])
        if answer is None:
            raise BFCLDataError(f"BFCL entry {q['id']} has no possible answer in {folder / 'possible_answer'}")
        turns = [[ChatMessage(**m) for m in turn] for turn in q["question"]]
        if name in MULTI_TURN_CATEGORIES:
            excluded = list(q.get("excluded_function", []))
            functions = [doc for cls in q["involved_classes"] for doc in class_function_docs(cls, data_folder=folder)
                         if doc.name not in excluded]
            entries.append(BFCLEntry(
                id=q["id"], category=name, turns=turns, functions=functions, ground_truth=answer["ground_truth"],
                initial_config=q.get("initial_config", {}), involved_classes=q["involved_classes"],
                excluded_functions=excluded,
            ))
        else:
            functions = [FunctionDoc(name=f["name"], description=f.get("description", ""),
                                     parameters=f.get("parameters", {})) for f in q["function"]]
            entries.append(BFCLEntry(id=q["id"], category=name, turns=turns, functions=functions,
                                     possible_answer=answer["ground_truth"]))
    return entries


def load_entry(entry_id: str, *, category: str | None = None, data_folder: Path | None = None) -> BFCLEntry:
    """One entry by id; its category is read from the id (`multi_turn_base_3` -> `multi_turn_base`)."""
    for entry in load_category(category or entry_id.rsplit("_", 1)[0], data_folder=data_folder):
        if entry.id == entry_id:
            return entry
    raise BFCLDataError(f"no BFCL entry with id {entry_id!r}")
