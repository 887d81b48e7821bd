"""Codebook model and loader: valid files load, every invalid file fails naming the right line.

All codebooks here are small synthetic ones written in the test (plus the project's seed codebook and,
when present, the shared eval codebook read in place).
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from pipeline.codebook import (
    FORMAT,
    Code,
    Codebook,
    dump_codebook,
    dumps_codebook,
    load_codebook,
    loads_codebook,
)
from pipeline.errors import CodebookError
from tests.conftest import CODEBOOK_PATH, eval_path

VALID = textwrap.dedent(
    """\
    # synthetic test codebook
    format: qualcode-codebook/1
    name: Test codebook
    version: "2.1"
    description: A tiny synthetic codebook.
    themes:
      - id: referral
        name: Referral
        description: How concerns are passed on.
        codes:
          - id: referral_route
            name: Referral route
            definition: The route a concern takes to Prevent or children's social care.
            include: [Describes who a concern goes to, Mentions the MASH]
            exclude: [General training talk]
            examples:
              - "It would go to the MASH first and then to the Prevent team."
          - id: referral_delay
            name: Referral delay
            definition: Time lost before a referral is made.
      - id: training
        name: Training
        description: What practitioners were taught.
        codes:
          - id: training_received
            name: Training received
            definition: Training the participant attended.
            include:
              - Names a course
            exclude: []
            examples: []
    """
)


def _error(text: str) -> CodebookError:
    with pytest.raises(CodebookError) as info:
        loads_codebook(text, source="book.yaml")
    return info.value


def _replace(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing ``needle`` (a trailing newline in it anchors the line end)."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line + "\n"]
    return hits[occurrence - 1]


# --------------------------------------------------------------------------------------------------
# valid content
# --------------------------------------------------------------------------------------------------
def test_valid_codebook_loads_with_structure_and_lookups() -> None:
    book = loads_codebook(VALID)
    assert (book.name, book.version, book.description) == ("Test codebook", "2.1", "A tiny synthetic codebook.")
    assert [theme.id for theme in book.themes] == ["referral", "training"]
    assert [code.id for code in book.codes] == ["referral_route", "referral_delay", "training_received"]
    route = book.code("referral_route")
    assert route.include == ("Describes who a concern goes to", "Mentions the MASH")
    assert route.exclude == ("General training talk",)
    assert route.theme_id == "referral"
    assert book.theme_of("training_received").name == "Training"
    delay = book.code("referral_delay")
    assert delay.include == delay.exclude == delay.examples == ()
    assert "referral_delay" in book and "nope" not in book
    assert len(book) == 3
    with pytest.raises(KeyError, match="nope"):
        book.code("nope")


def test_objects_are_immutable() -> None:
    book = loads_codebook(VALID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        book.name = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        book.codes[0].definition = "changed"  # type: ignore[misc]


def test_content_hash_ignores_yaml_style_but_not_content() -> None:
    book = loads_codebook(VALID)
    # Same content in another YAML style (dumped: block lists, no comments, other quoting).
    restyled = loads_codebook(dumps_codebook(book))
    assert restyled == book
    assert restyled.content_hash == book.content_hash
    assert len(book.content_hash) == 64
    changed = loads_codebook(_replace("Time lost before", "Weeks lost before"))
    assert changed.content_hash != book.content_hash


def test_definition_hash_tracks_meaning_only() -> None:
    book = loads_codebook(VALID)
    renamed = loads_codebook(_replace("name: Referral route", "name: Route of referral"))
    assert renamed.code("referral_route").definition_hash == book.code("referral_route").definition_hash
    for old, new in [
        ("The route a concern takes", "The path a concern takes"),
        ("Mentions the MASH", "Mentions the front door"),
        ("General training talk", "Any training talk"),
        ("It would go to the MASH first", "It goes to the MASH first"),
    ]:
        edited = loads_codebook(_replace(old, new))
        assert edited.code("referral_route").definition_hash != book.code("referral_route").definition_hash
        # ... and only that code goes stale.
        assert edited.code("referral_delay").definition_hash == book.code("referral_delay").definition_hash


def test_describe_uses_name_definition_include_and_examples_not_exclude() -> None:
    text = loads_codebook(VALID).code("referral_route").describe()
    assert text.startswith("Referral route.")
    assert "The route a concern takes" in text
    assert "Mentions the MASH" in text
    assert "It would go to the MASH first" in text
    assert "General training talk" not in text


def test_dict_round_trip_and_from_dict_validates() -> None:
    book = loads_codebook(VALID)
    data = book.to_dict()
    assert data["format"] == FORMAT
    assert "theme_id" not in data["themes"][0]["codes"][0]
    assert Codebook.from_dict(data) == book
    data["themes"][1]["codes"][0]["id"] = "referral_route"
    with pytest.raises(CodebookError, match="duplicate code id 'referral_route'") as info:
        Codebook.from_dict(data)
    assert info.value.line is None  # plain data has no lines


def test_description_is_optional_and_round_trips_when_absent() -> None:
    book = loads_codebook(VALID.replace("description: A tiny synthetic codebook.\n", "", 1))
    assert book.description == ""
    assert Codebook.from_dict(book.to_dict()) == book
    assert loads_codebook(dumps_codebook(book)) == book


def test_empty_theme_description_is_saved_and_loads_back(tmp_path: Path) -> None:
    """Regression: a theme with an empty (or absent) description was dumped, then refused on loading."""
    book = loads_codebook(VALID)
    first = book.themes[0]
    blank = dataclasses.replace(book, themes=(dataclasses.replace(first, description=""), *book.themes[1:]))
    assert loads_codebook(dumps_codebook(blank)) == blank
    assert load_codebook(dump_codebook(blank, tmp_path / "blank.yaml")) == blank
    assert Codebook.from_dict(blank.to_dict()) == blank
    absent = loads_codebook(_replace("    description: What practitioners were taught.\n", ""))
    assert absent.theme("training").description == ""
    assert loads_codebook(dumps_codebook(absent)) == absent


def test_dump_refuses_a_codebook_that_could_not_be_loaded_back(tmp_path: Path) -> None:
    book = loads_codebook(VALID)
    code = book.themes[0].codes[0]
    broken_theme = dataclasses.replace(book.themes[0], codes=(dataclasses.replace(code, definition=" "),))
    broken = dataclasses.replace(book, themes=(broken_theme, *book.themes[1:]))
    with pytest.raises(CodebookError, match=f"code '{code.id}' field 'definition' is empty"):
        dump_codebook(broken, tmp_path / "broken.yaml")
    assert not (tmp_path / "broken.yaml").exists()


def test_file_round_trip(tmp_path: Path) -> None:
    book = loads_codebook(VALID)
    path = dump_codebook(book, tmp_path / "book.yaml")
    again = load_codebook(path)
    assert again == book and again.source == path


def test_utf8_bom_and_unicode_text(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + _replace("Time lost", "Time lost \u2014 weeks").encode("utf-8"))
    assert "\u2014" in load_codebook(path).code("referral_delay").definition


# --------------------------------------------------------------------------------------------------
# errors name the line
# --------------------------------------------------------------------------------------------------
def test_bad_yaml_names_the_line() -> None:
    text = _replace("    name: Training\n", "    name: [Training\n")
    err = _error(text)
    assert "invalid YAML" in str(err)
    assert err.line is not None and err.line >= _line_of(text, "name: [Training")
    assert str(err).startswith(f"book.yaml:{err.line}: ")


@pytest.mark.parametrize(
    ("old", "new", "message", "needle"),
    [
        ("format: qualcode-codebook/1", "format: qualcode-codebook/9", "unsupported format", "format:"),
        ('version: "2.1"', "version: 2.1", "version must be text", "version:"),
        ("name: Test codebook", "name: 42", "must be text", "name: 42"),
        ("name: Test codebook", 'name: ""', "is empty", 'name: ""'),
        ("  - id: referral_delay", "  - id: Referral-Delay", "not snake_case", "Referral-Delay"),
        ("- id: training\n", "- id: 2training\n", "not snake_case", "2training"),
        ("  - id: referral_delay", "  - id: referral_route", "duplicate code id", "id: referral_route"),
        ("- id: training\n", "- id: referral\n", "duplicate theme id", "- id: referral\n"),
        ("include: [Describes", "includes: [Describes", "did you mean 'include'", "includes:"),
        ("include:\n          - Names a course", "include: Names a course", "must be a list of text",
         "include: Names a course"),
        ("codes:\n      - id: training_received", "codes:\n      - id: x\n     - id: y", "", ""),
        ("exclude: [General training talk]", "exclude: [General training talk, 3]", "item 2 must be text",
         "exclude:"),
        ("examples: []", "examples: {a: b}", "must be a list", "examples: {a: b}"),
        ("        name: Referral delay\n", "        name: Referral delay\n        name: Again\n",
         "duplicate key 'name'", "name: Again"),
    ],
)
def test_invalid_content_names_the_line(old: str, new: str, message: str, needle: str) -> None:
    text = _replace(old, new)
    if not message:  # a scalar followed by list items is a YAML syntax error
        err = _error(text)
        assert "invalid YAML" in str(err) and err.line is not None
        return
    err = _error(text)
    assert message in str(err)
    expected = _line_of(text, needle, 2 if "duplicate" in message and "key" not in message else 1)
    assert err.line == expected, (str(err), expected)
    assert str(err).startswith(f"book.yaml:{expected}: ")


def test_missing_required_fields_name_the_enclosing_item() -> None:
    text = _replace("        definition: Time lost before a referral is made.\n", "")
    err = _error(text)
    assert "missing required field 'definition'" in str(err)
    assert err.line == _line_of(text, "id: referral_delay")

    text = VALID.replace('version: "2.1"\n', "")
    err = _error(text)
    assert "missing required field 'version'" in str(err)


def test_empty_theme_and_empty_codebook() -> None:
    head, _, _ = VALID.partition("  - id: training\n")
    text = head + "  - id: training\n    name: Training\n    description: x\n    codes: []\n"
    err = _error(text)
    assert "has no codes" in str(err) and err.line == _line_of(text, "codes: []")

    text = VALID.partition("themes:")[0] + "themes: []\n"
    err = _error(text)
    assert "'themes' is empty" in str(err) and err.line == _line_of(text, "themes: []")

    assert "the file is empty" in str(_error(""))
    assert "must be a mapping" in str(_error("- just\n- a list\n"))


def test_aliases_and_python_tags_are_refused() -> None:
    text = _replace("definition: Time lost before a referral is made.", "definition: *anchor")
    text = text.replace("definition: The route", "definition: &anchor The route")
    err = _error(text)
    assert "aliases" in str(err) and err.line == _line_of(text, "*anchor")

    text = _replace("name: Test codebook", "name: !!python/object/apply:os.system ['true']")
    err = _error(text)
    assert "invalid YAML" in str(err) and err.line == _line_of(text, "python/object")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CodebookError, match="file not found"):
        load_codebook(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"format: qualcode-codebook/1\nname: caf\xe9\n")
    with pytest.raises(CodebookError, match="not valid UTF-8") as info:
        load_codebook(bad)
    assert info.value.line == 2


# --------------------------------------------------------------------------------------------------
# real codebooks
# --------------------------------------------------------------------------------------------------
def test_seed_codebook_loads_and_is_complete() -> None:
    book = load_codebook(CODEBOOK_PATH)
    assert 12 <= len(book.themes) <= 16
    assert 35 <= len(book.codes) <= 60
    for code in book.codes:
        assert len(code.definition) >= 60, code.id
        assert 2 <= len(code.include) <= 4, code.id
        assert 1 <= len(code.exclude) <= 3, code.id
        assert 2 <= len(code.examples) <= 3, code.id
    for theme in book.themes:
        assert theme.description, theme.id
    # Exclude rules that point at another code must point at one that exists.
    ids = set(book.code_ids)
    for code in book.codes:
        for rule in code.exclude:
            for word in rule.replace("(", " ").replace(")", " ").replace(",", " ").split():
                token = word.strip("`.;:'\"")
                if token.count("_") >= 1 and token.islower() and token.replace("_", "").isalnum():
                    assert token in ids, f"{code.id}: exclude rule names unknown code {token!r}"


@pytest.mark.eval
def test_narrative_frames_codebook_loads() -> None:
    book = load_codebook(eval_path("narrative_frames", "codebook.yaml"))
    assert len(book.codes) == 22
    assert book.theme_of("hi3").id == "human_interest"
    assert Codebook.from_dict(book.to_dict()) == book


def test_code_is_hashable_and_comparable() -> None:
    code = Code(id="a", name="A", definition="d", include=("x",), theme_id="t")
    assert code == Code(id="a", name="A", definition="d", include=("x",), theme_id="t")
    assert len({code, code}) == 1
