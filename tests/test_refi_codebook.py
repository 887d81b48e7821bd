"""REFI-QDA codebook exchange: import vendor files, export .qdc, validate against the REFI schemas.

Vendor samples and schemas are read from ../shared/eval/refi_qda (skipped when absent); the codebook
used for export is the SYNTHETIC one from test_suggest_synthetic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.codebook.refi import codebook_to_qdc, export_qdc, import_refi_codebook, validate_refi
from pipeline.errors import CodebookError
from tests.conftest import eval_path
from tests.test_suggest_synthetic import synthetic_codebook


def _refi(name: str) -> Path:
    return eval_path("refi_qda", name)


def test_import_atlas_ti_qdc_validates_against_repaired_codebook_schema() -> None:
    codebook = import_refi_codebook(_refi("atlas_ti_sample.qdc"), _refi("Codebook.repaired.UNOFFICIAL.xsd"))
    assert [(t.id, t.name) for t in codebook.themes] == [("code_group_1", "code group 1")]
    code = codebook.code("code1")
    assert code.name == "code1"
    assert code.definition == "description"
    assert codebook.theme_of("code1").description == "kategorie 1"


@pytest.mark.parametrize("name", ["Project.qde", "TestProject.qdpx"])
def test_import_project_codebook(name: str) -> None:
    codebook = import_refi_codebook(_refi(name), _refi("Project-mrt2019.xsd"))
    assert len(codebook) == 14
    assert codebook.name == "ATLAS.ti standard project"
    # "Coke::diet Coke" -> theme Coke; the plain "Coke" code joins it.
    assert {c.name for c in codebook.theme("coke").codes} == {"full-fat Coke", "diet Coke", "Coke"}
    assert codebook.code("diet_coke").definition == "non sucré"
    # Code groups (sets) become themes; codes without a description get their name as definition.
    assert "happiness" in {c.id for c in codebook.theme("feelings").codes}
    assert codebook.code("milk").definition == "milk"


def test_export_validates_and_round_trips(tmp_path: Path) -> None:
    original = synthetic_codebook()
    path = export_qdc(original, tmp_path / "out.qdc", _refi("Codebook.repaired.UNOFFICIAL.xsd"))
    back = import_refi_codebook(path, _refi("Codebook.repaired.UNOFFICIAL.xsd"), name=original.name)
    assert [t.to_dict() for t in back.themes] == [t.to_dict() for t in original.themes]
    assert back.definition_hashes == original.definition_hashes
    # Stable GUIDs: exporting twice gives the same bytes.
    assert codebook_to_qdc(original) == path.read_bytes()


def test_invalid_against_schema_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qdc"
    bad.write_text(
        '<?xml version="1.0"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        '<Code guid="not-a-guid" name="x" isCodable="true"/></Codes></CodeBook>',
        encoding="utf-8",
    )
    with pytest.raises(CodebookError, match=r"bad\.qdc: not valid against Codebook\.repaired\.UNOFFICIAL\.xsd"):
        validate_refi(bad, _refi("Codebook.repaired.UNOFFICIAL.xsd"))
    # Without a schema it still imports (the schema check is opt-in).
    assert import_refi_codebook(bad).code_ids == ["x"]


def test_entity_expansion_and_dtds_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.qdc"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE CodeBook [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        '<Code guid="1FF58B12-6F6F-4B0C-8BE5-BBDC91F55294" name="&b;" isCodable="true"/></Codes></CodeBook>',
        encoding="utf-8",
    )
    with pytest.raises(CodebookError, match=r"bomb\.qdc: refused unsafe XML"):
        import_refi_codebook(bomb)


def test_malformed_inputs(tmp_path: Path) -> None:
    broken = tmp_path / "broken.qdc"
    broken.write_text("<CodeBook><Codes>", encoding="utf-8")
    with pytest.raises(CodebookError, match=r"broken\.qdc.*not well-formed XML"):
        import_refi_codebook(broken)
    zipped = tmp_path / "nozip.qdpx"
    zipped.write_bytes(b"plain bytes")
    with pytest.raises(CodebookError, match=r"nozip\.qdpx: not a valid \.qdpx"):
        import_refi_codebook(zipped)
    with pytest.raises(CodebookError, match=r"expected a REFI-QDA"):
        import_refi_codebook(tmp_path / "codebook.txt")


def test_a_schema_never_reaches_the_network_or_expands_entities(tmp_path: Path, no_network: None) -> None:
    """Codebook and project validation share one loader: local imports only, no entities in the XSD."""
    from pipeline.errors import ExportError
    from pipeline.export.refi import validate_qde

    qdc = tmp_path / "book.qdc"
    qdc.write_bytes(codebook_to_qdc(synthetic_codebook()))
    remote = tmp_path / "remote.xsd"  # SYNTHETIC schema that imports another from a remote address
    remote.write_text(
        '<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:import namespace="urn:x" schemaLocation="http://schemas.example.invalid/x.xsd"/></xs:schema>',
        encoding="utf-8",
    )
    # The import is blocked before any connection is tried (xmlschema reports it as a warning), so the
    # file is simply not valid against what is left of the schema.
    with pytest.warns(Warning, match="block access to remote resource"):
        with pytest.raises(CodebookError, match=r"book\.qdc: not valid against remote\.xsd"):
            validate_refi(qdc, remote)
    entities = tmp_path / "entities.xsd"
    entities.write_text(
        '<?xml version="1.0"?><!DOCTYPE xs:schema [<!ENTITY e "x">]>'
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>',
        encoding="utf-8",
    )
    with pytest.raises(CodebookError, match=r"entities\.xsd: cannot load the schema"):
        validate_refi(qdc, entities)
    with pytest.raises(ExportError, match=r"missing\.xsd: cannot read the schema"):
        validate_qde(b"<Project/>", tmp_path / "missing.xsd")


def test_deeply_nested_codes_are_refused_naming_the_file(tmp_path: Path) -> None:
    """Issue 16: thousands of nested ``Code`` elements ended in a RecursionError; now a CodebookError
    naming the file and the setting. A codebook nested within the limit still imports."""
    def nested(depth: int) -> str:
        codes = "".join(
            f'<Code guid="00000000-0000-4000-8000-{i:012d}" name="level {i}" isCodable="true">' for i in range(depth)
        )
        return ('<?xml version="1.0"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
                + codes + "</Code>" * depth + "</Codes></CodeBook>")

    deep = tmp_path / "deep.qdc"
    deep.write_text(nested(5000), encoding="utf-8")
    with pytest.raises(CodebookError, match=r"deep\.qdc: .*nested deeper than 200 \(setting max_xml_depth\)"):
        import_refi_codebook(deep)
    shallow = tmp_path / "shallow.qdc"
    shallow.write_text(nested(4), encoding="utf-8")
    assert len(import_refi_codebook(shallow).code_ids) >= 3
