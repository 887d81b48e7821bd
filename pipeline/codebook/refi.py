"""REFI-QDA codebook exchange: import a ``.qdc`` (or the codebook of a ``.qde`` / ``.qdpx`` project) and export
a ``.qdc``, so a team can move its codebook between qualcode and NVivo, ATLAS.ti or MAXQDA.

Why these rules:

- **Parsing is defused.** Files come from other people's machines. XML is parsed with ``defusedxml``
  (no DTDs, no entity expansion, no external references); ``.qdpx`` archives are size-checked before
  anything is decompressed.
- **Validation takes a schema path.** The official REFI Project XSD and an unofficial repaired Codebook
  XSD exist but are not shipped with qualcode; pass ``schema_path`` to validate against one (with
  ``xmlschema``), e.g. ``Codebook.repaired.UNOFFICIAL.xsd`` for ``.qdc`` and ``Project-mrt2019.xsd`` for
  projects.
- **Mapping REFI's code tree to themes and codes.** qualcode has two levels. A top-level code with child
  codes becomes a theme and its descendants its codes (deeper levels are flattened, their names joined
  with " / "); if the parent is itself codable it is also kept as a code. A top-level code without
  children is placed by ATLAS.ti's ``Theme::Code`` naming (a plain ``Theme`` code, or one named like a code
  group, joins that theme), else by the first code group (``Set``) it belongs to, else under an
  "Ungrouped codes" theme. ``Description`` becomes the definition (the name when there is none, since
  qualcode requires one).
- **Round trips keep everything.** On export the description carries the definition and then, in plain
  readable sections, the include rules, exclude rules and examples, plus a ``[qualcode id: ...]`` line;
  import reads those back, so export -> import gives the same codes, and another tool shows the
  researcher all of it. GUIDs are derived from the codebook name and ids (uuid5), so re-exports are stable.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET  # only used to *build* XML and for its types; parsing is defused

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from pipeline.codebook.loader import ID_PATTERN, MAX_ID, MAX_NAME, codebook_from_data
from pipeline.codebook.model import FORMAT, Codebook
from pipeline.errors import CodebookError

CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
PROJECT_NS = "urn:QDA-XML:project:1.0"
#: Larger codebook or project XML is refused (a codebook is a few hundred KB at most).
MAX_XML_BYTES = 50 * 1024 * 1024
UNGROUPED_THEME = ("ungrouped", "Ungrouped codes")
_GUID_NAMESPACE = uuid.UUID("6f1c3a52-4d0e-4b8e-9a57-0c2f1d7e8b61")
_SECTION_RE = re.compile(r"^(Include|Exclude|Examples):\s*$")
_ID_LINE_RE = re.compile(r"^\[qualcode id: ([a-z][a-z0-9_]*)\]\s*$")


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
def _read_xml_bytes(path: Path) -> bytes:
    suffix = path.suffix.lower()
    try:
        if suffix == ".qdpx":
            with zipfile.ZipFile(path) as archive:
                members = [
                    i for i in archive.infolist() if i.filename.lower().endswith(".qde") and "/" not in i.filename
                ]
                if not members:
                    raise CodebookError(path, "no project.qde at the top of the .qdpx archive")
                info = members[0]
                if info.file_size > MAX_XML_BYTES:
                    raise CodebookError(path, f"{info.filename} is larger than {MAX_XML_BYTES // 2**20} MB")
                return archive.read(info)
        size = path.stat().st_size
        if size > MAX_XML_BYTES:
            raise CodebookError(path, f"file is larger than {MAX_XML_BYTES // 2**20} MB")
        return path.read_bytes()
    except zipfile.BadZipFile:
        raise CodebookError(path, "not a valid .qdpx (zip) archive") from None
    except OSError as exc:
        raise CodebookError(path, f"cannot read the file ({exc.strerror or type(exc).__name__})") from None


def _parse(path: Path, data: bytes) -> ET.Element:
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CodebookError(path, f"refused unsafe XML ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise CodebookError(path, f"not well-formed XML ({exc.msg if hasattr(exc, 'msg') else exc})", line) from None
    _check_depth(path, root)
    return root


def _check_depth(path: Path, root: ET.Element) -> None:
    """Refuse elements nested deeper than ``max_xml_depth``, walking the tree without recursion.

    Why: everything after parsing (the code tree, flattening, schema validation, ``tostring``) recurses
    once per level, so a crafted file of a few thousand nested ``Code`` elements ended in a
    ``RecursionError`` instead of a message naming the file. Real codebooks nest a handful of levels.
    """
    from pipeline.settings import get_settings

    max_depth = get_settings().max_xml_depth
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise CodebookError(
                path, f"XML elements nested deeper than {max_depth} (setting max_xml_depth); refused"
            )
        stack.extend((child, depth + 1) for child in element)


@lru_cache(maxsize=4)
def _cached_schema(xsd_path: str, mtime_ns: int) -> Any:  # an xmlschema.XMLSchema (untyped package)
    import xmlschema

    # defuse="always": the schema file is parsed without entity expansion too; allow="local": imports and
    # includes may only be local files, so validation never touches the network.
    return xmlschema.XMLSchema(xsd_path, defuse="always", allow="local")


def load_schema(xsd_path: Path | str) -> Any:
    """A REFI XSD, loaded safely and cached per path and modification time (codebook and project
    validation share it). Raises ``OSError`` or ``xmlschema.XMLSchemaException``."""
    path = Path(xsd_path).resolve()
    return _cached_schema(str(path), path.stat().st_mtime_ns)


def schema_problems(root: ET.Element, schema: Any, max_reason: int = 300) -> Iterator[str]:
    """``"<XPath>: <reason>"`` per schema violation of ``root``. Reasons name elements and attribute
    values, never element text, and only their first line is kept."""
    for error in schema.iter_errors(root):
        reason = (error.reason or type(error).__name__).splitlines()[0]
        yield f"{error.path or '/'}: {reason[:max_reason]}"


def validate_refi(path: Path | str, schema_path: Path | str, data: bytes | None = None) -> None:
    """Validate a REFI file (or ``data`` read from it) against an XSD; ``CodebookError`` on the first problem."""
    import xmlschema

    path = Path(path)
    root = _parse(path, data if data is not None else _read_xml_bytes(path))
    try:
        schema = load_schema(schema_path)
    except (xmlschema.XMLSchemaException, OSError) as exc:
        raise CodebookError(Path(schema_path), f"cannot load the schema ({type(exc).__name__})") from None
    problem = next(schema_problems(root, schema, max_reason=200), None)
    if problem is not None:
        where, _, reason = problem.partition(": ")
        raise CodebookError(path, f"not valid against {Path(schema_path).name}: {reason} (at {where})")


@dataclass
class _RefiCode:
    guid: str
    name: str
    codable: bool
    description: str
    children: list[_RefiCode] = field(default_factory=list)


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _code_tree(element: ET.Element, ns: str) -> _RefiCode:
    desc = element.find(_q(ns, "Description"))
    return _RefiCode(
        guid=(element.get("guid") or "").strip("{}").upper(),
        name=(element.get("name") or "").strip(),
        codable=(element.get("isCodable", "true").strip().lower() in ("true", "1")),
        description=(desc.text or "").strip() if desc is not None else "",
        children=[_code_tree(child, ns) for child in element.findall(_q(ns, "Code"))],
    )


def _sets(root: ET.Element, ns: str) -> list[tuple[str, str, list[str]]]:
    """Code groups: (name, description, member code guids) for sets that hold codes."""
    out = []
    for s in root.iter(_q(ns, "Set")):
        # The codebook schema names the member ``guid``, the project schema ``targetGUID``.
        members = [
            (m.get("guid") or m.get("targetGUID") or "").strip("{}").upper() for m in s.findall(_q(ns, "MemberCode"))
        ]
        if members:
            desc = s.find(_q(ns, "Description"))
            out.append(((s.get("name") or "").strip(), (desc.text or "").strip() if desc is not None else "", members))
    return out


def _parse_description(text: str) -> tuple[str, dict[str, list[str]], str | None]:
    """Split an exported description into definition, include/exclude/examples lists and the qualcode id."""
    sections: dict[str, list[str]] = {"Include": [], "Exclude": [], "Examples": []}
    definition: list[str] = []
    current: str | None = None
    qid = None
    for line in text.splitlines():
        id_match = _ID_LINE_RE.match(line.strip())
        if id_match:
            qid = id_match.group(1)
            continue
        header = _SECTION_RE.match(line.strip())
        if header:
            current = header.group(1)
            continue
        if current is not None and line.startswith("- "):
            sections[current].append(line[2:].strip())
        elif current is not None and line.startswith("  ") and sections[current]:
            sections[current][-1] += "\n" + line[2:]
        elif current is None or line.strip():
            definition.append(line)
    return "\n".join(definition).strip(), sections, qid


class _Ids:
    """snake_case ids from names, unique within their namespace."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, name: str, preferred: str | None = None) -> str:
        if preferred and ID_PATTERN.match(preferred) and preferred not in self.used:
            self.used.add(preferred)
            return preferred
        base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "code"
        if not base[0].isalpha():
            base = f"c_{base}"
        base = base[: MAX_ID - 4]
        candidate, n = base, 2
        while candidate in self.used:
            candidate, n = f"{base}_{n}", n + 1
        self.used.add(candidate)
        return candidate


def _code_dict(code: _RefiCode, name: str, ids: _Ids) -> dict[str, Any]:
    definition, sections, qid = _parse_description(code.description)
    return {
        "id": ids.make(name, qid),
        "name": name[:MAX_NAME],
        "definition": definition or name,
        "include": sections["Include"],
        "exclude": sections["Exclude"],
        "examples": sections["Examples"],
    }


def _flatten(code: _RefiCode, prefix: str = "") -> list[tuple[_RefiCode, str]]:
    out = []
    for child in code.children:
        name = f"{prefix}{child.name}"
        if child.codable or not child.children:
            out.append((child, name))
        out.extend(_flatten(child, prefix=f"{name} / "))
    return out


def codebook_from_refi(root: ET.Element, path: Path, name: str | None = None, version: str | None = None) -> Codebook:
    """Map a parsed REFI ``CodeBook`` or ``Project`` element to a qualcode ``Codebook``."""
    ns = PROJECT_NS if root.tag == _q(PROJECT_NS, "Project") else CODEBOOK_NS
    book = root if root.tag == _q(CODEBOOK_NS, "CodeBook") else root.find(_q(ns, "CodeBook"))
    if book is None:
        raise CodebookError(path, f"no CodeBook element (root is {root.tag.rsplit('}', 1)[-1]})")
    codes_el = book.find(_q(ns, "Codes"))
    top = [_code_tree(c, ns) for c in codes_el.findall(_q(ns, "Code"))] if codes_el is not None else []
    if not top:
        raise CodebookError(path, "the codebook has no codes")
    set_of: dict[str, tuple[str, str]] = {}
    set_names: dict[str, str] = {}
    for set_name, set_desc, members in _sets(root, ns):
        set_names.setdefault(set_name, set_desc)
        for guid in members:
            set_of.setdefault(guid, (set_name, set_desc))

    theme_ids, code_ids = _Ids(), _Ids()
    themes: dict[str, dict[str, Any]] = {}

    def theme(key_name: str, description: str) -> dict[str, Any]:
        if key_name not in themes:
            desc, _, qid = _parse_description(description)
            themes[key_name] = {
                "id": theme_ids.make(key_name, qid),
                "name": key_name[:MAX_NAME],
                "description": desc or f"Imported from {path.name}: {key_name}",
                "codes": [],
            }
        return themes[key_name]

    prefixes = {c.name.partition("::")[0].strip() for c in top if "::" in c.name and not c.children}
    for code in top:
        if code.children:
            t = theme(code.name, code.description)
            if code.codable:
                t["codes"].append(_code_dict(code, code.name, code_ids))
            for child, child_name in _flatten(code):
                t["codes"].append(_code_dict(child, child_name, code_ids))
        elif "::" in code.name:
            prefix, _, rest = code.name.partition("::")
            theme(prefix.strip(), "")["codes"].append(_code_dict(code, rest.strip() or code.name, code_ids))
        elif code.name in prefixes or code.name in set_names:  # "Coke" next to "Coke::diet Coke" / a "Coke" group
            theme(code.name, set_names.get(code.name, ""))["codes"].append(_code_dict(code, code.name, code_ids))
        elif code.guid in set_of:
            set_name, set_desc = set_of[code.guid]
            theme(set_name, set_desc)["codes"].append(_code_dict(code, code.name, code_ids))
        else:
            theme(UNGROUPED_THEME[1], "Codes that belong to no group in the imported file.")["codes"].append(
                _code_dict(code, code.name, code_ids)
            )
    data = {
        "format": FORMAT,
        "name": (name or root.get("name") or path.stem)[:MAX_NAME],
        "version": version or "refi-" + hashlib.sha256(ET.tostring(book)).hexdigest()[:8],
        "description": f"Imported from REFI-QDA file {path.name}"
        + (f" (exported by {root.get('origin')})" if root.get("origin") else ""),
        "themes": [t for t in themes.values() if t["codes"]],
    }
    return codebook_from_data(data, source=path)


def import_refi_codebook(
    path: Path | str,
    schema_path: Path | str | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
) -> Codebook:
    """Read a ``.qdc``, ``.qde`` or ``.qdpx`` file into a ``Codebook`` (validated against ``schema_path`` if given)."""
    path = Path(path)
    if path.suffix.lower() not in (".qdc", ".qde", ".qdpx"):
        raise CodebookError(path, "expected a REFI-QDA .qdc, .qde or .qdpx file")
    data = _read_xml_bytes(path)
    if schema_path is not None:
        validate_refi(path, schema_path, data)
    return codebook_from_refi(_parse(path, data), path, name=name, version=version)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------
def _guid(*parts: str) -> str:
    return str(uuid.uuid5(_GUID_NAMESPACE, "|".join(parts))).upper()


def _describe(
    definition: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    examples: Sequence[str] = (),
    qid: str | None = None,
) -> str:
    parts = [definition.strip()]
    for title, items in (("Include", include), ("Exclude", exclude), ("Examples", examples)):
        if items:
            lines = [f"{title}:"] + ["- " + item.replace("\n", "\n  ") for item in items]
            parts.append("\n".join(lines))
    if qid:
        parts.append(f"[qualcode id: {qid}]")
    return "\n\n".join(parts)


def codebook_to_qdc(codebook: Codebook) -> bytes:
    """The codebook as REFI-QDA codebook XML: themes as non-codable parent codes with their codes nested."""
    ET.register_namespace("", CODEBOOK_NS)
    root = ET.Element(_q(CODEBOOK_NS, "CodeBook"), {"origin": f"qualcode ({codebook.name} {codebook.version})"})
    codes_el = ET.SubElement(root, _q(CODEBOOK_NS, "Codes"))
    for theme in codebook.themes:
        parent = ET.SubElement(
            codes_el,
            _q(CODEBOOK_NS, "Code"),
            {"guid": _guid(codebook.name, "theme", theme.id), "name": theme.name, "isCodable": "false"},
        )
        ET.SubElement(parent, _q(CODEBOOK_NS, "Description")).text = _describe(theme.description, qid=theme.id)
        for code in theme.codes:
            child = ET.SubElement(
                parent,
                _q(CODEBOOK_NS, "Code"),
                {"guid": _guid(codebook.name, "code", code.id), "name": code.name, "isCodable": "true"},
            )
            ET.SubElement(child, _q(CODEBOOK_NS, "Description")).text = _describe(
                code.definition, code.include, code.exclude, code.examples, qid=code.id
            )
    ET.indent(root, space="  ")
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue() + b"\n"


def export_qdc(codebook: Codebook, path: Path | str, schema_path: Path | str | None = None) -> Path:
    """Write ``codebook`` as a ``.qdc`` file; validate it against ``schema_path`` first when given."""
    path = Path(path)
    data = codebook_to_qdc(codebook)
    if schema_path is not None:
        validate_refi(path, schema_path, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
