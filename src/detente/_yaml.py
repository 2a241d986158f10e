"""YAML loading that remembers where every key and list item stood in the file.

PyYAML's composer gives each node a start mark; we keep a map from the path of a value
(``("obligations", 0, "zone")``) to the 1-based line and column of its key or list item, so
that validation errors can point at the place a person has to edit.
"""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[Any, ...]
Positions = dict[Path_, tuple[int, int]]


class YamlError(ValueError):
    """A YAML syntax error, or a duplicate key, with its 1-based line and column."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def load_with_positions(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document; return the data and the position of every path in it.

    >>> data, pos = load_with_positions("a:\\n  - x: 1\\n")
    >>> data, pos[("a", 0, "x")]
    ({'a': [{'x': 1}]}, (2, 5))
    """
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        raise YamlError(
            f"invalid YAML: character #x{exc.character:04x} is not allowed", line, col
        ) from exc
    try:
        node = loader.get_single_node()
        positions: Positions = {(): (1, 1)}
        data = _build(loader, node, (), positions) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise YamlError(f"invalid YAML: {exc.problem or exc}", *where) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", None, None) from exc
    finally:
        loader.dispose()
    return data, positions


def _line_col(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, pos: Positions) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                line, col = _mark(key_node)
                raise YamlError(f"a key must be a plain value, not {type(key).__name__}", line, col)
            if key in out:
                line, col = _mark(key_node)
                raise YamlError(f"duplicate key {key!r}", line, col)
            pos[(*path, key)] = _mark(key_node)
            out[key] = _build(loader, value_node, (*path, key), pos)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            pos[(*path, i)] = _mark(item)
            items.append(_build(loader, item, (*path, i), pos))
        return items
    return loader.construct_object(node, deep=True)


def locate(loc: tuple[Any, ...], positions: Positions) -> tuple[str, tuple[int, int] | None]:
    """Turn a validation location into a readable field path and the best-known position.

    Elements of ``loc`` that are not in the document (a pydantic union tag such as
    ``'ceasefire'``) are skipped; a final element that is missing from the document (a required
    field) is kept in the name and the position of its parent is used.
    """
    path: list[str | int] = []
    shown: list[str | int] = []
    for i, element in enumerate(loc):
        candidate = (*path, element)
        if candidate in positions:
            path.append(element)
            shown.append(element)
        elif i == len(loc) - 1:
            shown.append(element)
    return format_path(shown), positions.get(tuple(path))


def format_path(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """``['obligations', 0, 'zone']`` -> ``'obligations[0].zone'``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
