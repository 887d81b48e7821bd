"""The ``<CodeBook>`` of an exported project, written by the codebook's own REFI-QDA writer.

Why not a second writer: ``pipeline.codebook.refi.codebook_to_qdc`` already decides how a qualcode
codebook looks in REFI-QDA (themes as non-codable parents, codes nested, the definition followed by the
include and exclude rules, examples and a ``[qualcode id: ...]`` line, GUIDs derived from the codebook
name and ids). Reusing it means a ``.qdc`` codebook export and a ``.qdpx`` project export of the same
codebook carry the same code GUIDs and descriptions, so a QDA package that imported one recognises the
codes of the other, and ``qualcode`` reads either back to the same ids.

The ``.qdc`` writer emits the codebook namespace (``urn:QDA-XML:codebook:1.0``); the project schema's
``CodeType`` has the same shape, so its elements are re-tagged into the project document (whose default
namespace is the project namespace). Its output is parsed with ``defusedxml`` like any other XML.

Codes that decisions use but the codebook lacks are added under a non-codable parent "Not in codebook",
so no coding points at a missing code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET

from pipeline.codebook import Codebook
from pipeline.codebook.loader import ID_PATTERN
from pipeline.codebook.refi import codebook_to_qdc
from pipeline.export import guids

NOT_IN_CODEBOOK = "Not in codebook"


@dataclass(frozen=True)
class ProjectCodebook:
    """A ``<CodeBook>`` element ready to append to a project, and the GUID of every code in it."""

    element: ET.Element = field(repr=False)
    code_guids: dict[str, str]  # code key -> GUID, what each Coding's CodeRef points at
    n_codes: int
    not_in_codebook: tuple[str, ...]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _retag(element: ET.Element) -> ET.Element:
    """A copy of ``element`` with namespace-free tags (the project document declares its namespace)."""
    copy = ET.Element(_local(element.tag), dict(element.attrib))
    copy.text = element.text if len(element) == 0 else None  # drop the writer's indentation whitespace
    for child in element:
        copy.append(_retag(child))
    return copy


def project_codebook(codebook: Codebook | None, used_codes: Iterable[str]) -> ProjectCodebook:
    """The project's ``<CodeBook>``: ``codebook`` via the ``.qdc`` writer, plus codes it does not define."""
    book = ET.Element("CodeBook")
    codes_el = ET.SubElement(book, "Codes")
    code_guids: dict[str, str] = {}
    if codebook is not None and codebook.themes:
        qdc = SafeET.fromstring(codebook_to_qdc(codebook))
        themes = next(child for child in qdc if _local(child.tag) == "Codes")
        for theme, theme_el in zip(codebook.themes, themes, strict=True):
            project_theme = _retag(theme_el)
            codes_el.append(project_theme)
            children = [c for c in project_theme if c.tag == "Code"]
            for code, code_el in zip(theme.codes, children, strict=True):
                code_guids[code.id] = code_el.attrib["guid"]
    n_defined = len(code_guids)
    missing = tuple(sorted(set(used_codes) - set(code_guids)))
    if missing:
        orphans = ET.SubElement(
            codes_el,
            "Code",
            {"guid": guids.theme_guid("\x00not-in-codebook"), "name": NOT_IN_CODEBOOK, "isCodable": "false"},
        )
        description = ET.SubElement(orphans, "Description")
        description.text = "Codes used in decisions that the exported codebook does not define."
        for key in missing:
            code_guids[key] = guids.code_guid(key)
            code_el = ET.SubElement(orphans, "Code", {"guid": code_guids[key], "name": key, "isCodable": "true"})
            if ID_PATTERN.fullmatch(key):  # the id line the .qdc importer reads back
                ET.SubElement(code_el, "Description").text = f"Not defined in the codebook.\n\n[qualcode id: {key}]"
    if len(codes_el) == 0:
        # The schema needs at least one Code: a project with no codebook and no codings still validates.
        ET.SubElement(
            codes_el, "Code", {"guid": guids.theme_guid("\x00empty"), "name": "(no codes)", "isCodable": "false"}
        )
    return ProjectCodebook(book, code_guids, n_defined + len(missing), missing)
