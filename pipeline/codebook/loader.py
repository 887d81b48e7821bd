"""Read and validate ``qualcode-codebook/1`` YAML files, with errors that name the line.

Why a custom loader: researchers edit codebooks by hand, and "missing field 'definition'" is useless in a
600-line file unless it says where. PyYAML's ``safe_load`` forgets positions, so this module uses a
``SafeLoader`` subclass whose mappings and sequences remember the line of every key and item. Only the
safe constructors are ever used (no Python object tags), YAML aliases are refused (no "billion laughs"
and no hidden sharing between codes), and duplicate keys are an error instead of PyYAML's silent
last-one-wins.

The same validator serves ``Codebook.from_dict`` for data that did not come from YAML (it then reports
no line numbers).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from pipeline.codebook.model import FORMAT, Code, Codebook, Theme
from pipeline.errors import CodebookError

#: Ids are stable keys stored with every decision: lower snake_case, starting with a letter.
ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
#: Column sizes in ``pipeline.store.models`` (ids, names, versions) so a codebook that loads also stores.
MAX_ID = 100
MAX_NAME = 300
MAX_VERSION = 50
#: Codebooks are small; a huge file is a mistake (or an attack on the parser), not a codebook.
MAX_BYTES = 5 * 1024 * 1024

_TOP_KEYS = {"format": True, "name": True, "version": True, "description": False, "themes": True}
#: A theme's description is optional, like the codebook's: only codes need text the suggester can embed,
#: and themes imported from other QDA tools often have none.
_THEME_KEYS = {"id": True, "name": True, "description": False, "codes": True}
_CODE_KEYS = {
    "id": True,
    "name": True,
    "definition": True,
    "include": False,
    "exclude": False,
    "examples": False,
}


# --------------------------------------------------------------------------------------------------
# YAML with line numbers
# --------------------------------------------------------------------------------------------------
class _LineDict(dict[Any, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line: int | None = None
    key_lines: dict[Any, int]


class _LineList(list[Any]):
    """A sequence that remembers its own line and the line of each item (1-based)."""

    line: int | None = None
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """``SafeLoader`` that records lines, refuses aliases and duplicate keys."""

    source: Path | None = None

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise CodebookError(
                self.source,
                "YAML aliases (*name) are not allowed in a codebook; write the text out",
                event.start_mark.line + 1,
            )
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def _construct_mapping(loader: _LineLoader, node: MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    result = _LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, Hashable) or isinstance(key, (dict, list)):
            raise CodebookError(loader.source, "a mapping key must be a plain value", line)
        if key in result:
            raise CodebookError(
                loader.source, f"duplicate key {key!r} (first on line {result.key_lines[key]})", line
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _LineLoader, node: SequenceNode) -> _LineList:
    result = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _parse_yaml(text: str, source: Path | None) -> Any:
    loader = _LineLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise CodebookError(source, f"invalid YAML: {problem}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise CodebookError(source, f"invalid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------
class _Validator:
    """Walks the parsed data once, turning it into model objects or a ``CodebookError`` with a line."""

    def __init__(self, source: Path | None) -> None:
        self.source = source

    def fail(self, message: str, line: int | None) -> CodebookError:
        return CodebookError(self.source, message, line)

    # -- positions --------------------------------------------------------------------------------
    @staticmethod
    def line_of(container: Any) -> int | None:
        return getattr(container, "line", None)

    @staticmethod
    def key_line(mapping: Any, key: str) -> int | None:
        lines = getattr(mapping, "key_lines", None)
        if lines and key in lines:
            return int(lines[key])
        return getattr(mapping, "line", None)

    @staticmethod
    def item_line(sequence: Any, index: int) -> int | None:
        lines = getattr(sequence, "item_lines", None)
        return lines[index] if lines else getattr(sequence, "line", None)

    # -- shapes -----------------------------------------------------------------------------------
    def mapping(self, value: Any, what: str, line: int | None, keys: dict[str, bool]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{what} must be a mapping of keys, got {_type_name(value)}", line)
        for key in value:
            if key not in keys:
                hint = difflib.get_close_matches(str(key), list(keys), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                allowed = ", ".join(keys)
                raise self.fail(
                    f"unknown key {key!r} in {what}{suggestion}; allowed: {allowed}",
                    self.key_line(value, key),
                )
        for key, required in keys.items():
            if required and key not in value:
                raise self.fail(f"{what} is missing required field {key!r}", line)
        return value

    def text(
        self,
        mapping: Mapping[str, Any],
        key: str,
        what: str,
        max_len: int | None = None,
        required: bool = True,
    ) -> str:
        value = mapping.get(key)
        line = self.key_line(mapping, key)
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            raise self.fail(f"{what} field {key!r} must be text, got {_type_name(value)}", line)
        value = value.strip()
        if not value and required:
            raise self.fail(f"{what} field {key!r} is empty", line)
        if max_len is not None and len(value) > max_len:
            raise self.fail(f"{what} field {key!r} is longer than {max_len} characters", line)
        return value

    def identifier(self, mapping: Mapping[str, Any], what: str) -> str:
        line = self.key_line(mapping, "id")
        value = mapping["id"]
        if not isinstance(value, str):
            raise self.fail(f"{what} id must be text in snake_case, got {_type_name(value)}", line)
        if not ID_PATTERN.match(value):
            raise self.fail(
                f"{what} id {value!r} is not snake_case (lower-case letters, digits and single underscores, "
                "starting with a letter)",
                line,
            )
        if len(value) > MAX_ID:
            raise self.fail(f"{what} id {value!r} is longer than {MAX_ID} characters", line)
        return value

    def text_list(self, mapping: Mapping[str, Any], key: str, what: str) -> tuple[str, ...]:
        if key not in mapping or mapping[key] is None:
            return ()
        value = mapping[key]
        line = self.key_line(mapping, key)
        if not isinstance(value, list):
            raise self.fail(f"{what} field {key!r} must be a list of text, got {_type_name(value)}", line)
        items: list[str] = []
        for index, item in enumerate(value):
            item_line = self.item_line(value, index)
            if not isinstance(item, str):
                raise self.fail(
                    f"{what} field {key!r} item {index + 1} must be text, got {_type_name(item)}", item_line
                )
            if not item.strip():
                raise self.fail(f"{what} field {key!r} item {index + 1} is empty", item_line)
            items.append(item.strip())
        return tuple(items)

    # -- the document -----------------------------------------------------------------------------
    def codebook(self, data: Any) -> Codebook:
        if data is None:
            raise self.fail("the file is empty", None)
        top = self.mapping(data, "the codebook", self.line_of(data) or 1, _TOP_KEYS)
        fmt = top["format"]
        if fmt != FORMAT:
            raise self.fail(
                f"unsupported format {fmt!r}; this version of qualcode reads {FORMAT!r}",
                self.key_line(top, "format"),
            )
        version = top["version"]
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            raise self.fail(
                f'version must be text: quote it (version: "{version}") so that 1.10 does not become 1.1',
                self.key_line(top, "version"),
            )
        name = self.text(top, "name", "the codebook", MAX_NAME)
        version_text = self.text(top, "version", "the codebook", MAX_VERSION)
        description = self.text(top, "description", "the codebook", required=False)

        themes_value = top["themes"]
        themes_line = self.key_line(top, "themes")
        if not isinstance(themes_value, list):
            raise self.fail(f"'themes' must be a list, got {_type_name(themes_value)}", themes_line)
        if not themes_value:
            raise self.fail("'themes' is empty: a codebook needs at least one theme", themes_line)

        themes: list[Theme] = []
        theme_lines: dict[str, int | None] = {}
        code_lines: dict[str, int | None] = {}
        for index, raw_theme in enumerate(themes_value):
            theme = self.theme(raw_theme, self.item_line(themes_value, index), index, code_lines)
            if theme.id in theme_lines:
                raise self.fail(
                    f"duplicate theme id {theme.id!r} (first on line {theme_lines[theme.id]})",
                    self.key_line(raw_theme, "id"),
                )
            theme_lines[theme.id] = self.key_line(raw_theme, "id")
            themes.append(theme)
        return Codebook(
            name=name, version=version_text, description=description, themes=tuple(themes), source=self.source
        )

    def theme(
        self, data: Any, line: int | None, index: int, code_lines: dict[str, int | None]
    ) -> Theme:
        theme = self.mapping(data, f"theme {index + 1}", line, _THEME_KEYS)
        theme_id = self.identifier(theme, "theme")
        what = f"theme {theme_id!r}"
        name = self.text(theme, "name", what, MAX_NAME)
        description = self.text(theme, "description", what, required=False)
        codes_value = theme["codes"]
        codes_line = self.key_line(theme, "codes")
        if not isinstance(codes_value, list):
            raise self.fail(f"{what} 'codes' must be a list, got {_type_name(codes_value)}", codes_line)
        if not codes_value:
            raise self.fail(f"{what} has no codes: an empty theme cannot be coded", codes_line)
        codes: list[Code] = []
        for code_index, raw_code in enumerate(codes_value):
            code = self.code(raw_code, self.item_line(codes_value, code_index), theme_id, code_index)
            code_line = self.key_line(raw_code, "id")
            if code.id in code_lines:
                raise self.fail(
                    f"duplicate code id {code.id!r} (first on line {code_lines[code.id]}); "
                    "code ids must be unique in the whole codebook",
                    code_line,
                )
            code_lines[code.id] = code_line
            codes.append(code)
        return Theme(id=theme_id, name=name, description=description, codes=tuple(codes))

    def code(self, data: Any, line: int | None, theme_id: str, index: int) -> Code:
        code = self.mapping(data, f"code {index + 1} of theme {theme_id!r}", line, _CODE_KEYS)
        code_id = self.identifier(code, "code")
        what = f"code {code_id!r}"
        return Code(
            id=code_id,
            name=self.text(code, "name", what, MAX_NAME),
            definition=self.text(code, "definition", what),
            include=self.text_list(code, "include", what),
            exclude=self.text_list(code, "exclude", what),
            examples=self.text_list(code, "examples", what),
            theme_id=theme_id,
        )


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------
def codebook_from_data(data: Any, source: Path | str | None = None) -> Codebook:
    """Validate already-parsed data (a dict as from ``Codebook.to_dict``) into a ``Codebook``."""
    return _Validator(Path(source) if source else None).codebook(data)


def loads_codebook(text: str, source: Path | str | None = None) -> Codebook:
    """Parse and validate codebook YAML from a string; ``source`` names it in error messages."""
    path = Path(source) if source else None
    if len(text) > MAX_BYTES:
        raise CodebookError(path, f"codebook is larger than {MAX_BYTES // (1024 * 1024)} MB")
    return _Validator(path).codebook(_parse_yaml(text, path))


def load_codebook(path: Path | str) -> Codebook:
    """Read, parse and validate a codebook file (UTF-8). Raises ``CodebookError`` naming file and line."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CodebookError(path, f"codebook is larger than {MAX_BYTES // (1024 * 1024)} MB")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CodebookError(path, "file not found") from None
    except IsADirectoryError:
        raise CodebookError(path, "is a folder, not a codebook file") from None
    except PermissionError:
        raise CodebookError(path, "permission denied") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CodebookError(path, "not valid UTF-8 (save the codebook as UTF-8)", line) from None
    return loads_codebook(text, source=path)


def dumps_codebook(codebook: Codebook) -> str:
    """The codebook as ``qualcode-codebook/1`` YAML (what ``loads_codebook`` reads back unchanged).

    A ``Codebook`` built in code can hold what the loader refuses (an empty definition, a bad id), so it
    is validated first: ``CodebookError`` here beats writing a file nobody can load again.
    """
    data = codebook_from_data(codebook.to_dict(), source=codebook.source).to_dict()
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def dump_codebook(codebook: Codebook, path: Path | str) -> Path:
    """Write the codebook as YAML (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(dumps_codebook(codebook), encoding="utf-8")
    return path
