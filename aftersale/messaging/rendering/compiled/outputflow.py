"""Proving from a template's source that its captured output only reaches the email.

A skeleton render (shapes.py) writes a sentinel for every non-empty value and nothing
for an empty one. Output a template captures (a macro's or caller()'s output, super(), a
`{% set %}` block, a recursive loop()) then holds sentinels where the real render holds
values: the same length only by chance, but empty exactly when the real one is. So when
captured output is only written out, tested for truth or for being none/defined, or
handed to a macro whose parameter is used the same way, the skeleton with the values
written in *is* the real render, and the real render can be skipped.

The proof walks the Jinja AST of the template and of every template it extends,
includes or imports; anything it cannot follow (a filter block, a template name that is
not a constant, captured output filtered, compared, measured, indexed or stored
anywhere but a plain `{% set x = ... %}`, a macro passed around as a value) leaves the
template unproven, and it is rendered twice and compared as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jinja2
from jinja2 import nodes

# Tests whose answer is the same for a skeleton's captured output as for the real one.
_SAFE_TESTS = frozenset({"none", "defined", "undefined"})
# Names that call back into rendering: their result is captured output.
_RENDERING_CALLS = frozenset({"caller", "super", "loop"})
_MAX_ROUNDS = 20  # each round taints at least one more parameter; templates have few


class _Unproven(Exception):
    """The template does something with captured output the proof cannot follow."""


@dataclass
class _File:
    """One parsed template and what its names refer to."""

    tree: nodes.Template
    parents: dict[int, nodes.Node]
    macros: dict[str, nodes.Macro]
    imports: dict[str, str]  # {% import "x" as alias %}: alias -> template name
    from_imports: dict[str, tuple[str, str]]  # local name -> (template name, macro name)
    captured: set[str] = field(default_factory=set)  # names that may hold captured output


@functools.lru_cache(maxsize=256)
def only_written_out(*, source: str, environment: jinja2.Environment) -> bool:
    """Whether everything `source` (a template of `environment`, its partials found
    through the environment's loader) captures of its own output is only written out or
    tested for truth or none (see the module docstring); False for anything that cannot
    be proved, including a syntax error or a missing partial."""
    try:
        files = {"": _parse(environment.parse(source))}
        _load_references(files, environment)
        for _ in range(_MAX_ROUNDS):
            before = sum(len(f.captured) for f in files.values())
            for file in files.values():
                _check_file(file, files)
            if sum(len(f.captured) for f in files.values()) == before:
                return True
    except (_Unproven, jinja2.TemplateError):
        return False
    return False


def _parse(tree: nodes.Template) -> _File:
    parents = {
        id(child): node for node in tree.find_all(nodes.Node) for child in node.iter_child_nodes()
    }
    for child in tree.iter_child_nodes():
        parents[id(child)] = tree
    file = _File(tree=tree, parents=parents, macros={}, imports={}, from_imports={})
    for macro in tree.find_all(nodes.Macro):
        file.macros[macro.name] = macro
    for imported in tree.find_all(nodes.Import):
        file.imports[imported.target] = _constant_name(imported.template)
    for from_import in tree.find_all(nodes.FromImport):
        template = _constant_name(from_import.template)
        for name in from_import.names:
            original, alias = name if isinstance(name, tuple) else (name, name)
            file.from_imports[alias] = (template, original)
    for block in tree.find_all(nodes.AssignBlock):
        if block.filter is not None or not isinstance(block.target, nodes.Name):
            raise _Unproven("a filtered or unusual {% set %} block")
        file.captured.add(block.target.name)
    if any(True for _ in tree.find_all(nodes.FilterBlock)):
        raise _Unproven("a filter block filters captured output")
    return file


def _constant_name(template: nodes.Expr) -> str:
    if not isinstance(template, nodes.Const) or not isinstance(template.value, str):
        raise _Unproven("a template name that is not a constant")
    return template.value


def _load_references(files: dict[str, _File], environment: jinja2.Environment) -> None:
    """Parse every template the files extend, include or import, transitively."""
    pending = [""]
    while pending:
        file = files[pending.pop()]
        referenced = set(file.imports.values()) | {t for t, _ in file.from_imports.values()}
        for node in file.tree.find_all((nodes.Extends, nodes.Include)):
            assert isinstance(node, nodes.Extends | nodes.Include)
            referenced.add(_constant_name(node.template))
        for name in referenced - files.keys():
            source = environment.loader.get_source(environment, name)[0]  # type: ignore[union-attr]
            files[name] = _parse(environment.parse(source, name=name))
            pending.append(name)


def _check_file(file: _File, files: dict[str, _File]) -> None:
    for node in file.tree.find_all(nodes.Expr):
        if isinstance(node, nodes.Name) and node.ctx == "load":
            _check_callable_name(node, file)
        if _is_captured(node, file):
            _check_use(node, file, files)


def _check_callable_name(name: nodes.Name, file: _File) -> None:
    """A macro, an import or a rendering call is only ever called (or tested for
    being defined): passed around as a value, its output could go anywhere."""
    callables = file.macros.keys() | file.imports.keys() | file.from_imports.keys()
    if name.name not in callables | _RENDERING_CALLS | {"self"} or _is_parameter(name, file):
        return
    parent = file.parents[id(name)]
    if isinstance(parent, nodes.Call) and parent.node is name:
        return
    if isinstance(parent, nodes.Getattr) and name.name in file.imports.keys() | {"self"}:
        above = file.parents[id(parent)]
        if isinstance(above, nodes.Call) and above.node is parent:
            return
    if isinstance(parent, nodes.Test) and parent.name in _SAFE_TESTS:
        return
    if name.name == "loop" and isinstance(parent, nodes.Getattr):
        return  # loop.index, loop.last, loop.cycle(...): not output
    raise _Unproven(f"{name.name!r} used as a value")


def _is_captured(node: nodes.Node, file: _File) -> bool:
    """Whether `node`'s value may be captured output."""
    if isinstance(node, nodes.Name):
        return node.ctx == "load" and node.name in file.captured
    if not isinstance(node, nodes.Call):
        return False
    callee = node.node
    if isinstance(callee, nodes.Name):
        if callee.name in file.captured:
            return True
        named = file.macros.keys() | file.from_imports.keys() | _RENDERING_CALLS
        return callee.name in named and not _is_parameter(callee, file)
    return (
        isinstance(callee, nodes.Getattr)
        and isinstance(callee.node, nodes.Name)
        and callee.node.name in file.imports.keys() | {"self"}
    )


def _is_parameter(name: nodes.Name, file: _File) -> bool:
    """Whether `name` is a parameter of a macro or call block it is in (which hides a
    macro of that name)."""
    node: nodes.Node = name
    while id(node) in file.parents:
        node = file.parents[id(node)]
        if isinstance(node, nodes.Macro | nodes.CallBlock) and name.name in {
            arg.name for arg in node.args
        }:
            return True
    return False


def _check_use(node: nodes.Node, file: _File, files: dict[str, _File]) -> None:
    """`node` (captured output) is written out, tested for truth or none, or handed to
    a macro parameter or a plain name that is then checked the same way."""
    parent = file.parents[id(node)]
    if isinstance(parent, nodes.Output) or (
        isinstance(parent, nodes.CallBlock) and parent.call is node
    ):
        return
    if isinstance(parent, nodes.CondExpr) and parent.test is not node:
        return _check_use(parent, file, files)
    if isinstance(parent, nodes.Test) and parent.name in _SAFE_TESTS and parent.node is node:
        return None
    if _is_condition(node, file):
        return None
    if (
        isinstance(parent, nodes.Assign)
        and parent.node is node
        and isinstance(parent.target, nodes.Name)
    ):
        file.captured.add(parent.target.name)
        return None
    if isinstance(parent, nodes.Call | nodes.Keyword):
        return _taint_parameter(node, parent, file, files)
    raise _Unproven(f"captured output used in {type(parent).__name__}")


def _is_condition(node: nodes.Node, file: _File) -> bool:
    """Whether `node` only decides an {% if %}, an inline if or a loop filter, alone or
    through not/and/or."""
    while isinstance(parent := file.parents[id(node)], nodes.Not | nodes.And | nodes.Or):
        node = parent
    return isinstance(parent, nodes.If | nodes.CondExpr | nodes.For) and parent.test is node


def _taint_parameter(
    node: nodes.Node, parent: nodes.Call | nodes.Keyword, file: _File, files: dict[str, _File]
) -> None:
    """Mark the parameter of the macro that `node` is passed to as holding captured
    output (in the macro's own file)."""
    call = file.parents[id(parent)] if isinstance(parent, nodes.Keyword) else parent
    if not isinstance(call, nodes.Call) or call.node is node:
        raise _Unproven("captured output called")
    target = _macro(call.node, file, files)
    if target is None:
        raise _Unproven("captured output passed to something that is not a macro")
    owner, macro = target
    names = [arg.name for arg in macro.args]
    if isinstance(parent, nodes.Keyword):
        name = parent.key
    elif (position := next((i for i, a in enumerate(call.args) if a is node), None)) is not None:
        name = names[position] if position < len(names) else ""
    else:
        raise _Unproven("captured output passed as extra arguments")
    if name not in names:
        raise _Unproven("captured output passed as an unknown keyword")
    owner.captured.add(name)


def _macro(
    callee: nodes.Node, file: _File, files: dict[str, _File]
) -> tuple[_File, nodes.Macro] | None:
    """The macro `callee` names (and its file), or None when it is not a known macro."""
    if isinstance(callee, nodes.Name) and callee.name in file.macros:
        return file, file.macros[callee.name]
    if isinstance(callee, nodes.Name) and callee.name in file.from_imports:
        template, name = file.from_imports[callee.name]
        owner = files[template]
    elif (
        isinstance(callee, nodes.Getattr)
        and isinstance(callee.node, nodes.Name)
        and callee.node.name in file.imports
    ):
        owner, name = files[file.imports[callee.node.name]], callee.attr
    else:
        return None
    return (owner, owner.macros[name]) if name in owner.macros else None
