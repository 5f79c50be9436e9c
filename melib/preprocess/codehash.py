"""The code identity of a cached step: a hash of the code it runs, so that a cache key follows the code.

:func:`code_hash` hashes the bytecode (not the text, so a comment, a docstring or a moved line changes nothing,
and what is hashed is what runs even when a file was edited after import) of a function and of every function
and class it reaches in melib or in its own package, transitively: globals it names, attributes of the modules
it names (``rpca.rpca``), functions imported inside its body, defaults, closures and immutable module
constants. Third-party code, data files and mutable module state are not seen: bump ``version=`` for those.
"""
from __future__ import annotations

import dis
import functools
import hashlib
import importlib
import importlib.util
import inspect
import types
from collections.abc import Callable
from typing import Any

_ALWAYS = "melib"
_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes)
# module attributes that say where the code lies, not what it is: the same commit checked out elsewhere hashes alike
_LOCATION = frozenset({"__file__", "__cached__", "__path__", "__spec__", "__loader__"})


def _scope_of(fn: Callable) -> frozenset[str]:
    return frozenset({_ALWAYS, (getattr(fn, "__module__", None) or "__main__").split(".")[0]})


def _in_scope(obj: Any, scope: frozenset[str]) -> bool:
    mod = getattr(obj, "__module__", None)
    return isinstance(mod, str) and mod.split(".")[0] in scope


def _code_bytes(code: types.CodeType, doc: str | None = None) -> str:
    """Bytecode, constants and names of ``code`` and its nested code objects (the docstring left out)."""
    consts = list(code.co_consts)
    if doc is not None and consts and consts[0] == doc:
        consts = consts[1:]
    parts = [_code_bytes(c) if isinstance(c, types.CodeType) else _repr(c) for c in consts]
    return "|".join([code.co_code.hex(), repr(code.co_names), repr(code.co_varnames), *parts])


def _repr(value: Any) -> str:
    """``repr`` that does not depend on the process's hash seed (sets are sorted)."""
    if isinstance(value, (frozenset, set)):
        return "{" + ",".join(sorted(_repr(v) for v in value)) + "}"
    if isinstance(value, tuple):
        return "(" + ",".join(_repr(v) for v in value) + ")"
    return repr(value)


def _names(code: types.CodeType) -> set[str]:
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _imports(code: types.CodeType) -> list[tuple[int, str, tuple | None]]:
    """(level, module, fromlist) of every import statement in ``code`` and its nested code objects."""
    ins = list(dis.get_instructions(code))
    out = [(ins[i - 2].argval, x.argval, ins[i - 1].argval) for i, x in enumerate(ins)
           if x.opname == "IMPORT_NAME" and i >= 2 and ins[i - 2].opname == ins[i - 1].opname == "LOAD_CONST"]
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out += _imports(c)
    return out


def _immutable(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_immutable(v) for v in value)
    return isinstance(value, _IMMUTABLE)


class _Walk:
    """One traversal from a cached step: the own-code hash of everything reached, and what is still to visit."""

    def __init__(self, scope: frozenset[str]):
        self.scope = scope
        self.todo: list[Any] = []
        self.seen: set[int] = set()
        self.parts: set[tuple[str, str]] = set()

    def value(self, v: Any, depth: int = 0) -> str:
        """A stable description of ``v`` for the hash; functions and classes in scope are queued to visit."""
        if _immutable(v):
            return _repr(v)
        try:
            unwrapped = inspect.unwrap(v) if callable(v) else v
        except ValueError:  # an object that answers every attribute (a wrapper cycle)
            unwrapped = v
        if (inspect.isfunction(unwrapped) or inspect.isclass(unwrapped)) and _in_scope(unwrapped, self.scope):
            self.todo.append(unwrapped)
            version = getattr(v, "cache_version", None)  # a cached callee's explicit bump counts too
            return f"{unwrapped.__module__}.{unwrapped.__qualname__}" + ("" if version is None else f"@v{version}")
        if isinstance(v, functools.partial):
            return f"partial({self.value(v.func, depth)}, {self.value(v.args, depth)})"
        if depth < 3 and isinstance(v, (list, tuple, set, frozenset)):
            for item in v:
                self.value(item, depth + 1)  # mutable content is not hashed; functions in it are followed
        elif depth < 3 and isinstance(v, dict):
            for item in v.values():
                self.value(item, depth + 1)
        if _in_scope(type(v), self.scope):  # an instance of a melib class: its class's code counts
            self.todo.append(type(v))
        return type(v).__qualname__

    def modules_named(self, code: types.CodeType, glb: dict) -> list[types.ModuleType]:
        """Modules in scope the code reaches: module globals it names and modules it imports in its body
        (imported here if need be, so the hash does not depend on what happened to be imported before)."""
        mods = {v.__name__: v for n in _names(code) if isinstance(v := glb.get(n), types.ModuleType)}
        package = glb.get("__package__") or str(glb.get("__name__", "")).rpartition(".")[0]
        for level, name, fromlist in _imports(code):
            try:
                full = importlib.util.resolve_name("." * level + name, package) if level else name
                if full.split(".")[0] not in self.scope:
                    continue
                mods[full] = mod = importlib.import_module(full)
            except (ImportError, ValueError):  # an import that would fail when the code runs
                continue
            for n in fromlist or ():  # `from . import face`: a submodule, perhaps not imported yet
                sub = getattr(mod, n, None)
                if sub is None and hasattr(mod, "__path__"):
                    try:
                        sub = importlib.import_module(f"{full}.{n}")
                    except ImportError:
                        continue
                if isinstance(sub, types.ModuleType):
                    mods[sub.__name__] = sub
        return [m for k, m in sorted(mods.items()) if k.split(".")[0] in self.scope]

    def function(self, fn: types.FunctionType) -> str:
        code = fn.__code__
        names = _names(code)
        glb = fn.__globals__
        refs = [f"{n}={self.value(glb[n])}" for n in sorted(names - _LOCATION)
                if n in glb and not isinstance(glb[n], types.ModuleType)]
        for mod in self.modules_named(code, glb):
            refs += [f"{mod.__name__}.{n}={self.value(getattr(mod, n))}" for n in sorted(names - _LOCATION)
                     if not isinstance(getattr(mod, n, None), (types.ModuleType, type(None)))]
        defaults = [self.value(d) for d in (fn.__defaults__ or ())]
        defaults += [f"{k}={self.value(d)}" for k, d in sorted((fn.__kwdefaults__ or {}).items())]
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(contents):
                self.value(contents)
        return "\n".join([_code_bytes(code, fn.__doc__), *refs, *defaults])

    def cls(self, c: type) -> str:
        parts = [repr([f"{b.__module__}.{b.__qualname__}" for b in c.__bases__])]
        for b in c.__bases__:
            self.value(b)
        for k, v in sorted(vars(c).items()):
            if k in ("__dict__", "__weakref__", "__doc__", "__module__", "__qualname__"):
                continue
            if isinstance(v, (staticmethod, classmethod)):
                v = v.__func__
            if isinstance(v, property):
                parts += [f"{k}.{a}={self.value(f)}" for a in ("fget", "fset") if (f := getattr(v, a))]
                continue
            parts.append(f"{k}={repr(v) if k == '__annotations__' else self.value(v)}")
        return "\n".join(parts)

    def run(self, start: Callable) -> str:
        self.todo.append(inspect.unwrap(start))
        while self.todo:
            obj = self.todo.pop()
            if id(obj) in self.seen:
                continue
            self.seen.add(id(obj))
            own = self.function(obj) if inspect.isfunction(obj) else self.cls(obj)
            self.parts.add((f"{obj.__module__}.{obj.__qualname__}", hashlib.sha256(own.encode()).hexdigest()))
        return hashlib.sha256(repr(sorted(self.parts)).encode()).hexdigest()


def code_hash(fn: Callable) -> str:
    """A hex digest of the code ``fn`` runs: its bytecode and that of every melib (or own-package) function
    and class it reaches, transitively. Stable across processes; changes when any of that code changes."""
    return _Walk(_scope_of(inspect.unwrap(fn))).run(fn)
