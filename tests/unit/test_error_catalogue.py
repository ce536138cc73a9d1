"""docs/errors.md lists every error code the code can emit, and no other.

The codes are read from the source, not from a list kept beside it: a walk over every module of
the packages finds the ``code = "..."`` of each ``MeetingError`` subclass, every ``code=...``
argument (problem documents, ``MeetingError``s, signaling ``Error`` frames), codes passed to a
function whose parameter is ``code``, and codes unpacked from what a function returns
(``code, message = _describe(exc)``). Modules can move between packages and the walk still finds
them. A ``code=`` whose value the walk cannot follow fails the test: write the code as a literal
(or a module constant) or teach the walk, rather than let a code slip past the catalogue.

Codes the shared domain and the control plane raise belong to the HTTP table (in the row of
their status, where the exception's class says it); codes only the media node sends belong to
either table (the socket uses the HTTP codes too).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "errors.md"
# Where each package's codes surface: "http" (problem documents, and the socket's frames too
# when the media node calls the shared services) or "socket" (error frames only).
PACKAGES = {
    ROOT / "shared" / "meeting_shared": "http",
    ROOT / "functions" / "meeting_functions": "http",
    ROOT / "launcher" / "meeting_launcher": "http",
    ROOT / "gpu_node" / "meeting_gpu": "http",
    ROOT / "sfu_node" / "meeting_sfu": "socket",
}
BASE_ERROR = "MeetingError"
# Codes in the source that no caller ever receives (each must still be in the source):
NEVER_SENT = frozenset(
    {
        # the mixing worker's own failure: the recording is marked failed, its message the reason
        "recording_mix_failed",
        # http/problems.py's names for framework errors nothing here raises: a 406, and any
        # status outside its table
        "not_acceptable",
        "http_error",
    }
)
CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Emission:
    """One place that can emit ``code`` (a regular expression when it is built at runtime)."""

    code: str
    pattern: bool
    status: int | None
    plane: str
    where: str

    def matches(self, documented: str) -> bool:
        if self.pattern:
            return re.fullmatch(self.code, documented) is not None
        return self.code == documented


@dataclass(frozen=True)
class _Leaf:
    value: str
    pattern: bool = False
    status: int | None = None  # when the code comes with its own (a table status -> code)


class _Source:
    """Every module of the packages, parsed, with what resolving a code needs across them."""

    def __init__(self) -> None:
        self.modules: dict[Path, tuple[ast.Module, str]] = {}
        for package, plane in PACKAGES.items():
            for path in sorted(package.rglob("*.py")):
                self.modules[path] = (ast.parse(path.read_text(), str(path)), plane)
        self.constants: dict[str, list[ast.expr]] = {}  # module-level NAME = ... anywhere
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.classes: dict[str, list[ast.ClassDef]] = {}
        for tree, _plane in self.modules.values():
            for node in tree.body:
                if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                    for target in _targets(node):
                        if isinstance(target, ast.Name):
                            self.constants.setdefault(target.id, []).append(node.value)
            for inner in ast.walk(tree):
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.functions.setdefault(inner.name, []).append(inner)
                elif isinstance(inner, ast.ClassDef):
                    self.classes.setdefault(inner.name, []).append(inner)

    def error_class(self, name: str, seen: frozenset[str] = frozenset()) -> ast.ClassDef | None:
        """The class of that name in the ``MeetingError`` hierarchy (names repeat across
        packages: the AI node has an ``InvalidInput`` of its own)."""
        for node in self.classes.get(name, []):
            if name == BASE_ERROR:
                return node
            for base in node.bases:
                if (
                    isinstance(base, ast.Name)
                    and base.id not in seen
                    and self.error_class(base.id, seen | {name}) is not None
                ):
                    return node
        return None

    def attribute(self, class_name: str, attribute: str) -> object:
        """A class attribute's literal value, inherited along the error hierarchy."""
        node = self.error_class(class_name)
        while node is not None:
            for statement in node.body:
                if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value:
                    names = [t.id for t in _targets(statement) if isinstance(t, ast.Name)]
                    if attribute in names and isinstance(statement.value, ast.Constant):
                        return statement.value.value
            bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
            node = self.error_class(bases[0]) if bases else None
        return None


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return list(node.targets) if isinstance(node, ast.Assign) else [node.target]


def _pattern(node: ast.JoinedStr) -> str:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(re.escape(str(value.value)))
        else:
            parts.append("[a-z0-9_]+")
    return "".join(parts)


class _Walk:
    """Resolves code expressions to the strings they can be, inside one module."""

    def __init__(self, source: _Source, path: Path, tree: ast.Module, plane: str) -> None:
        self.source = source
        self.path = path
        self.plane = plane
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.tree = tree
        self.unresolved: list[str] = []
        # functions of this module taking a code positionally: name -> its index (self aside)
        self.code_parameters: dict[str, int] = {}
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                parameters = [*function.args.posonlyargs, *function.args.args]
                if parameters and parameters[0].arg in ("self", "cls"):
                    parameters = parameters[1:]
                for index, parameter in enumerate(parameters):
                    annotation = parameter.annotation
                    # (a WebSocket close code is an int: not an error code)
                    if parameter.arg == "code" and not (
                        isinstance(annotation, ast.Name) and annotation.id == "int"
                    ):
                        self.code_parameters[function.name] = index

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"

    def scope(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        current = self.parents.get(node)
        while current is not None:
            if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef):
                return current
            current = self.parents.get(current)
        return None

    def resolve(self, node: ast.expr, depth: int = 0) -> list[_Leaf] | None:
        """The strings ``node`` can be; None when the walk cannot tell (or it is forwarded:
        an attribute such as ``exc.code``, or the enclosing function's parameter)."""
        if depth > 8:
            return None
        if isinstance(node, ast.Constant):
            return [_Leaf(node.value)] if isinstance(node.value, str) else []
        if isinstance(node, ast.JoinedStr):
            return [_Leaf(_pattern(node), pattern=True)]
        if isinstance(node, ast.IfExp):
            first = self.resolve(node.body, depth + 1)
            second = self.resolve(node.orelse, depth + 1)
            return None if first is None or second is None else first + second
        if isinstance(node, ast.Attribute):
            return []  # forwarded (exc.code) or not a string code (CloseCode.UNAUTHORIZED)
        if isinstance(node, ast.Name):
            return self.resolve_name(node, depth)
        return None

    def resolve_name(self, node: ast.Name, depth: int) -> list[_Leaf] | None:
        function = self.scope(node)
        if function is not None:
            arguments = function.args
            parameters = [
                a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
            ]
            if node.id in parameters:
                return []  # the callers' codes are collected at their call
            bound = self.local_bindings(function, node.id, depth)
            if bound is not None:
                return bound
        values = self.source.constants.get(node.id)
        if values:
            leaves: list[_Leaf] = []
            for value in values:
                resolved = self.resolve(value, depth + 1)
                if resolved is None:
                    return None
                leaves += resolved
            return leaves
        return None

    def local_bindings(
        self, function: ast.FunctionDef | ast.AsyncFunctionDef, name: str, depth: int
    ) -> list[_Leaf] | None:
        leaves: list[_Leaf] = []
        found = False
        for node in ast.walk(function):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                for target in _targets(node):
                    if isinstance(target, ast.Name) and target.id == name:
                        found = True
                        resolved = self.resolve(node.value, depth + 1)
                        if resolved is None:
                            return None
                        leaves += resolved
                    elif isinstance(target, ast.Tuple):
                        index = _index_of(target, name)
                        if index is not None:
                            found = True
                            unpacked = self.unpacked(node.value, index, depth)
                            if unpacked is None:
                                return None
                            leaves += unpacked
            elif isinstance(node, ast.For):
                index = _index_of(node.target, name) if isinstance(node.target, ast.Tuple) else None
                if index is not None and isinstance(node.iter, ast.Tuple | ast.List):
                    found = True
                    for item in node.iter.elts:
                        if not isinstance(item, ast.Tuple):
                            return None
                        resolved = self.resolve(item.elts[index], depth + 1)
                        if resolved is None:
                            return None
                        leaves += resolved
        return leaves if found else None

    def unpacked(self, value: ast.expr, index: int, depth: int) -> list[_Leaf] | None:
        """Element ``index`` of the tuples ``value`` evaluates to: a function's returns, or a
        ``TABLE.get(key, default)`` of a module-level dict of tuples."""
        if not isinstance(value, ast.Call):
            return None
        callee = value.func
        tuples: list[tuple[ast.expr, int | None]] = []
        if isinstance(callee, ast.Attribute) and callee.attr == "get":
            if isinstance(callee.value, ast.Name):
                for table in self.source.constants.get(callee.value.id, []):
                    if isinstance(table, ast.Dict):
                        tuples += [
                            (item, _int(key.value) if isinstance(key, ast.Constant) else None)
                            for key, item in zip(table.keys, table.values, strict=True)
                        ]
            tuples += [(default, None) for default in value.args[1:]]
        else:
            name = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
            for function in self.source.functions.get(name, []):
                tuples += [
                    (node.value, None)
                    for node in ast.walk(function)
                    if isinstance(node, ast.Return) and node.value is not None
                ]
        if not tuples:
            return None
        leaves: list[_Leaf] = []
        for item, status in tuples:
            if not isinstance(item, ast.Tuple):
                return None
            resolved = self.resolve(item.elts[index], depth + 1)
            if resolved is None:
                return None
            leaves += [_Leaf(leaf.value, leaf.pattern, status or leaf.status) for leaf in resolved]
        return leaves

    def emissions(self) -> Iterator[Emission]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ClassDef) and self.source.error_class(node.name) is node:
                code = self.source.attribute(node.name, "code")
                status = self.source.attribute(node.name, "status")
                if any(
                    isinstance(s, ast.Assign | ast.AnnAssign)
                    and "code" in [t.id for t in _targets(s) if isinstance(t, ast.Name)]
                    for s in node.body
                ):
                    assert isinstance(code, str), self.where(node)
                    yield self.emission(_Leaf(code), _int(status), node)
            elif isinstance(node, ast.Call):
                yield from self.call(node)

    def call(self, node: ast.Call) -> Iterator[Emission]:
        callee = node.func
        name = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
        values = [k.value for k in node.keywords if k.arg == "code"]
        position = self.code_position(callee)
        if position is not None and len(node.args) > position:
            values.append(node.args[position])
        for value in values:
            leaves = self.resolve(value)
            if leaves is None:
                self.unresolved.append(f"{self.where(node)}: {ast.unparse(value)}")
                continue
            for leaf in leaves:
                yield self.emission(leaf, leaf.status or self.status(node, name), node)

    def status(self, node: ast.Call, name: str) -> int | None:
        """The HTTP status the call's error gets: its class's, the class whose ``__init__``
        a ``super().__init__(...)`` is in, or a ``status=`` argument."""
        for keyword in node.keywords:
            if keyword.arg == "status" and isinstance(keyword.value, ast.Constant):
                return _int(keyword.value.value)
        if name == "__init__":
            current = self.parents.get(node)
            while current is not None and not isinstance(current, ast.ClassDef):
                current = self.parents.get(current)
            name = current.name if current is not None else ""
        return _int(self.source.attribute(name, "status"))

    def code_position(self, callee: ast.expr) -> int | None:
        """Where ``code`` stands among the positional parameters of a function of this module
        (``self`` aside) that the call names: ``self._send_error("answer_timeout", ...)``."""
        if isinstance(callee, ast.Name):
            name = callee.id
        elif (
            isinstance(callee, ast.Attribute)
            and isinstance(callee.value, ast.Name)
            and callee.value.id in ("self", "cls")
        ):
            name = callee.attr
        else:
            return None
        return self.code_parameters.get(name)

    def emission(self, leaf: _Leaf, status: int | None, node: ast.AST) -> Emission:
        return Emission(leaf.value, leaf.pattern, status, self.plane, self.where(node))


def _index_of(target: ast.Tuple, name: str) -> int | None:
    for index, element in enumerate(target.elts):
        if isinstance(element, ast.Name) and element.id == name:
            return index
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


@functools.cache
def emitted() -> tuple[list[Emission], list[str]]:
    source = _Source()
    found: list[Emission] = []
    unresolved: list[str] = []
    for path, (tree, plane) in source.modules.items():
        walk = _Walk(source, path, tree, plane)
        found += list(walk.emissions())
        unresolved += walk.unresolved
    # Strings passed as ``code`` that are not error codes: a WebSocket close code is an int.
    return [e for e in found if e.pattern or CODE.fullmatch(e.code)], unresolved


def sent() -> list[Emission]:
    return [e for e in emitted()[0] if e.code not in NEVER_SENT]


def _outside_parentheses(text: str) -> str:
    depth, kept = 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def documented() -> tuple[dict[int, set[str]], set[str]]:
    """The HTTP table (status -> codes) and the signaling table's codes, from docs/errors.md:
    backticked codes of each row outside parentheses (those explain, they do not list)."""
    http: dict[int, set[str]] = {}
    socket: set[str] = set()
    for line in CATALOGUE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2:
            continue
        if cells[0].isdigit():
            codes = BACKTICKED.findall(_outside_parentheses(cells[1]))
            http.setdefault(int(cells[0]), set()).update(c for c in codes if CODE.fullmatch(c))
        elif (code := BACKTICKED.fullmatch(cells[0])) and CODE.fullmatch(code.group(1)):
            socket.add(code.group(1))
    return http, socket


def test_the_walk_follows_every_code_argument() -> None:
    found, unresolved = emitted()
    assert unresolved == [], "codes the catalogue test cannot follow; write them as literals"
    codes = {e.code for e in found}
    # What the walk must see, whatever the layout: a class attribute, a code= argument, a code
    # built at runtime, a code passed positionally, a code unpacked from a function's return.
    assert {"meeting_full", "not_found", "invalid_character", "negotiation_failed"} <= codes
    assert {"unknown_type", "invalid_frame", "method_not_allowed", "http_error"} <= codes
    assert {"username_taken", "client_closed_request", r"meeting_[a-z0-9_]+"} <= codes


def test_every_code_the_code_can_emit_is_in_the_catalogue() -> None:
    http, socket = documented()
    in_http = set().union(*http.values())
    missing = []
    for emission in sent():
        places = in_http if emission.plane == "http" else in_http | socket
        if not any(emission.matches(code) for code in places):
            missing.append(f"{emission.code} ({emission.where})")
            continue
        # In its status's row, where the exception says the status (a built code may be any).
        row = http.get(emission.status) if emission.status else None
        checked = row is not None and emission.plane == "http" and not emission.pattern
        if checked and row is not None and emission.code not in row:
            missing.append(f"{emission.code} under {emission.status} ({emission.where})")
    assert missing == []


def test_the_catalogue_lists_no_code_the_code_cannot_emit() -> None:
    http, socket = documented()
    found = sent()
    listed = set().union(*http.values()) | socket
    unknown = sorted(code for code in listed if not any(e.matches(code) for e in found))
    assert unknown == []
    assert {e.code for e in emitted()[0]} - listed >= NEVER_SENT
    # A socket code is one only the media node sends; the HTTP table lists the shared ones.
    assert sorted(socket & set().union(*http.values())) == []
