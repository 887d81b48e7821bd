"""Each recogniser on SYNTHETIC snippets (no real people, numbers or places of anyone we know).

The anonymiser is built once per module; the spaCy model behind it loads once per process.
"""

from __future__ import annotations

import pytest

from pipeline.anonymise import Anonymiser, build_anonymiser
from pipeline.anonymise.recognizers import nhs_checksum_ok
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def anon() -> Anonymiser:
    return build_anonymiser(Settings())


def masked(anon: Anonymiser, text: str) -> dict[str, str]:
    """original surface -> entity type, for every replacement."""
    res = anon.anonymise(text)
    return {text[s.start : s.end]: s.entity for s in res.spans}


def test_nhs_checksum() -> None:
    assert nhs_checksum_ok("9434765919")
    assert not nhs_checksum_ok("9434765918")  # last digit off by one
    assert not nhs_checksum_ok("123456789")  # too short


def test_nhs_number_valid_masked_invalid_kept(anon: Anonymiser) -> None:
    assert masked(anon, "His NHS number is 943 476 5919.") == {"943 476 5919": "NHS_NUMBER"}
    found = masked(anon, "The reference 943 476 5918 was wrong.")
    assert "NHS_NUMBER" not in found.values()


@pytest.mark.parametrize("number", ["AB 12 34 56 C", "ab123456c", "QQ 12 34 56 A", "JG-10-37-21-D"])
def test_national_insurance_numbers(anon: Anonymiser, number: str) -> None:
    assert masked(anon, f"Her NI number is {number} apparently.").get(number) == "NI_NUMBER"


def test_national_insurance_excluded_prefix(anon: Anonymiser) -> None:
    assert "NI_NUMBER" not in masked(anon, "Code BG123456A on the form.").values()


@pytest.mark.parametrize("postcode", ["LS6 2AB", "ls6 2ab", "BD87HU", "SW1A 1AA", "M1 1AE"])
def test_postcodes(anon: Anonymiser, postcode: str) -> None:
    assert masked(anon, f"they moved to {postcode} last year").get(postcode) == "POSTCODE"


def test_postcode_district_needs_context(anon: Anonymiser) -> None:
    assert masked(anon, "she lives over in BD8 now") == {"BD8": "POSTCODE"}
    assert "POSTCODE" not in masked(anon, "the form number M25 was wrong").values()


def test_school_year_is_not_a_postcode(anon: Anonymiser) -> None:
    assert masked(anon, "He was in Y10 then.") == {}


@pytest.mark.parametrize("phone", ["07700 900461", "07700900388", "0113 496 0762", "+44 7700 900123", "020 7946 0018"])
def test_uk_phone_numbers(anon: Anonymiser, phone: str) -> None:
    assert masked(anon, f"ring me on {phone} after five").get(phone) == "PHONE"


def test_email_url_and_handles(anon: Anonymiser) -> None:
    text = "Email l.patel@kirkfield.example.org, see https://example-patriots.net/v and follow @wolfsangel88"
    found = masked(anon, text)
    assert found["l.patel@kirkfield.example.org"] == "EMAIL"
    assert found["https://example-patriots.net/v"] == "URL"
    assert found["@wolfsangel88"] == "HANDLE"


def test_named_handle_without_at(anon: Anonymiser) -> None:
    found = masked(anon, "his snap is kyleb2009 and he posts every night")
    assert found.get("kyleb2009") == "HANDLE"


@pytest.mark.parametrize(
    ("text", "surface", "entity"),
    [
        ("date of birth 3rd of June 2009, lives nearby", "3rd of June 2009", "DATE"),
        ("Born 12/03/2008 in hospital", "12/03/2008", "DATE"),
        ("she's fourteen and in Year 9", "fourteen", "AGE"),
        ("a 15-year-old boy was referred", "15-year-old", "AGE"),
        ("he was aged 13 at the time", "13", "AGE"),
    ],
)
def test_dates_of_birth_and_ages(anon: Anonymiser, text: str, surface: str, entity: str) -> None:
    assert masked(anon, text).get(surface) == entity


def test_vague_time_stays_readable(anon: Anonymiser) -> None:
    assert masked(anon, "It went on for a couple of months last year, every friday.") == {}


@pytest.mark.parametrize(
    ("text", "surface"),
    [
        ("The case number was CP-2021-04417 on the file.", "CP-2021-04417"),
        ("the police log was 4412/21 I think", "4412/21"),
        ("crime reference 88213004 was given", "88213004"),
    ],
)
def test_case_references(anon: Anonymiser, text: str, surface: str) -> None:
    assert masked(anon, text).get(surface) == "CASE_REF"


def test_common_ratio_is_not_a_reference(anon: Anonymiser) -> None:
    assert masked(anon, "she was online 24/7 over the summer") == {}


@pytest.mark.parametrize(
    ("text", "surface", "entity"),
    [
        ("She moved to St Mary's Primary in Year 3.", "St Mary's Primary", "SCHOOL"),
        ("he goes to oakwood academy now", "oakwood academy", "SCHOOL"),
        ("THE REFERRAL CAME FROM ST MARY'S PRIMARY", "ST MARY'S PRIMARY", "SCHOOL"),
        ("The imam at Jamia Masjid Ghausia was helpful.", "Jamia Masjid Ghausia", "PLACE_OF_WORSHIP"),
        ("he stopped going to green lane mosque after that", "green lane mosque", "PLACE_OF_WORSHIP"),
        ("the family live at 27 Larch Close now", "27 Larch Close", "ADDRESS"),
        ("we had three referrals from rotherham last year", "rotherham", "PLACE"),
    ],
)
def test_places_schools_addresses(anon: Anonymiser, text: str, surface: str, entity: str) -> None:
    assert masked(anon, text).get(surface) == entity


@pytest.mark.parametrize(
    "text",
    ["He left school at sixteen.", "The school rang the MASH.", "she goes to the local mosque", "it's a main road"],
)
def test_generic_places_stay(anon: Anonymiser, text: str) -> None:
    assert masked(anon, text) == {}


def test_lower_case_speech_names(anon: Anonymiser) -> None:
    text = "so um jo said her lad kyle had been on tiktok all night"
    res = anon.anonymise(text)
    assert res.text == "so um [PERSON_1] said her lad [PERSON_2] had been on tiktok all night"


def test_capitals_and_titles(anon: Anonymiser) -> None:
    found = masked(anon, "THE REFERRAL CAME FROM MRS AHMED AND MR L.-E. PETTIT")
    assert "MRS AHMED" in found
    assert any("PETTIT" in s for s in found)


def test_context_introduced_unknown_name(anon: Anonymiser) -> None:
    found = masked(anon, "there was a lad called zebedee who ran the chat")
    assert found.get("zebedee") == "PERSON"


def test_ambiguous_names_need_evidence(anon: Anonymiser) -> None:
    assert masked(anon, "I will mark it and hope for the best.") == {}
    assert masked(anon, "Her son Will was referred.").get("Will") == "PERSON"


def test_name_propagation_any_case(anon: Anonymiser) -> None:
    res = anon.anonymise("Kyle was referred. later kyle said KYLE was fine.")
    assert "kyle" not in res.text.casefold()
    assert len({s.placeholder for s in res.spans}) == 1


def test_domain_terms_survive(anon: Anonymiser) -> None:
    text = (
        "The DSL rang the MASH, the Channel panel met, CAMHS and the LADO joined, Counter Terrorism Policing "
        "and the Home Office advised, Ofsted and Social Work England inspected; a Child Protection plan, "
        "contextual safeguarding, Extreme Right-Wing material, county lines, Children's Services, the YOT."
    )
    assert anon.anonymise(text).text == text


def test_local_part_of_a_team_name_is_masked(anon: Anonymiser) -> None:
    res = anon.anonymise("Bradford MASH referred him to the Channel panel.")
    assert res.text == "[PLACE_1] MASH referred him to the Channel panel."


def test_span_offsets_index_both_texts(anon: Anonymiser) -> None:
    text = "Kyle (14) lives at 12 Elm Road, LS6 2AB; ring 07700 900461."
    res = anon.anonymise(text)
    for span in res.spans:
        assert res.text[span.out_start : span.out_end] == span.placeholder
        assert text[span.start : span.end].strip() == text[span.start : span.end]
    assert [s.start for s in res.spans] == sorted(s.start for s in res.spans)
