"""Structural identifiers (addresses, speaker labels, initials) and derived nicknames.

All fixtures are SYNTHETIC: invented people, streets and towns written for these tests. The recognisers
are tested directly (fast, no spaCy) and a few cases end to end through the anonymiser, which is built
once per module.
"""

from __future__ import annotations

import time

import pytest

from pipeline.anonymise import Anonymiser, build_anonymiser
from pipeline.anonymise.gazetteers import load_gazetteers
from pipeline.anonymise.nicknames import NicknameIndex, derived_forms, fold, is_common_word, nickname_of
from pipeline.anonymise.recognizers.structure import (
    AddressRecognizer,
    InitialsLabelRecognizer,
    SpeakerLabelRecognizer,
    structure_recognizers,
)
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def addresses() -> AddressRecognizer:
    return AddressRecognizer(load_gazetteers())


@pytest.fixture(scope="module")
def anon() -> Anonymiser:
    return build_anonymiser(Settings())


def found(addresses: AddressRecognizer, text: str) -> list[str]:
    return [text[s:e] for s, e in addresses.spans(text)]


def masked(anon: Anonymiser, text: str) -> dict[str, str]:
    res = anon.anonymise(text)
    return {text[s.start : s.end]: s.entity for s in res.spans}


# ----------------------------------------------------------------------------------------------------
# addresses (synthetic)
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("She moved into Flat 7, Wrenfield Court in March.", "Flat 7, Wrenfield Court"),
        (
            "The visit was at Flat 3, Kestrel House, Miller's Rise, and went well.",
            "Flat 3, Kestrel House, Miller's Rise",
        ),
        ("They live at 12 Quarry Mews, Hollinbrook.", "12 Quarry Mews, Hollinbrook"),
        ("Nain lives at Tŷ Gwyn, 5 Heol y Dderwen, past the chapel.", "Tŷ Gwyn, 5 Heol y Dderwen"),
        ("yeah she lives at seventeen foxglove close now", "seventeen foxglove close"),
        ("he stays at number 9 Ropewalk Gate with his nan", "9 Ropewalk Gate"),
        ("Flat 1, 22 Sedge Parade is where his dad is.", "Flat 1, 22 Sedge Parade"),
        ("We met at Apartment 6, The Mansions on Tuesday.", "Apartment 6, The Mansions"),
        ("Her mum is at 40b Wherry Lane, Thistleby.", "40b Wherry Lane, Thistleby"),
        ("so it was like twelve brackenfold road innit", "twelve brackenfold road"),
        ("The family were rehoused to Gorsey Crescent.", "Gorsey Crescent"),
        ("They live at 12 Quarry Mews, Hollinbrook, HB3 7QT now.", "12 Quarry Mews, Hollinbrook, HB3 7QT"),
        ("she lives at twelve foxglove close wakefield now", "twelve foxglove close wakefield"),
        ("His gran is in Flat 2/1, 30 Wynford Terrace.", "Flat 2/1, 30 Wynford Terrace"),
        ("Bampi's house is Tŷ Coch on the hill.", "Tŷ Coch"),
    ],
)
def test_whole_address_is_one_span(addresses: AddressRecognizer, text: str, address: str) -> None:
    assert found(addresses, text) == [address]


def test_unit_and_block_alone(addresses: AddressRecognizer) -> None:
    assert found(addresses, "He was moved from Unit 5 to Block D last week.") == ["Unit 5", "Block D"]


def test_every_common_suffix_with_a_house_number(addresses: AddressRecognizer) -> None:
    suffixes = (
        "Road Street Avenue Lane Close Drive Crescent Grove Terrace Gardens Mews Walk Way Place Square Rise "
        "Parade Row Hill Gate Court View Green Park Fold Croft Wynd Vennel Brae Loan Chase Bank Yard Hey Garth "
        "Heights Side Embankment Circus Approach Boulevard Broadway Quay Wharf"
    ).split()
    for suffix in suffixes:
        text = f"They moved to 14 Brindlecot {suffix} in the spring."
        assert found(addresses, text) == [f"14 Brindlecot {suffix}"], suffix


@pytest.mark.parametrize("welsh", ["3 Heol Glanrhyd", "Ffordd y Gamlas", "7 Stryd Fawr", "Lôn Ceiriog"])
def test_welsh_streets(addresses: AddressRecognizer, welsh: str) -> None:
    assert found(addresses, f"The house on {welsh} was empty.") == [welsh]


@pytest.mark.parametrize(
    "text",
    [
        "we walked down the high street and then down the road to the park",
        "She went into a Care Home after that.",
        "The Court of Protection agreed, and the House of Commons debated it.",
        "It went to the Crown Court, then the Family Court, then the Youth Court.",
        "it went to family court in the end",
        "We went to the High Street after school.",
        "It's a safe place for her. The Restorative Approach works.",
        "it's a 20 minute walk from school, really close",
        "Amara Hill came to the meeting.",
        "The Court said no.",
        "they are very close and she is pretty close to her nan",
        "We did a Sponsored Walk for the hospice.",
        "Two White House aides said so.",
        "They backed the 12 Million Trees Way campaign.",
        "The Divisional Court and The Warthorn Regional Court agreed.",
        "She banks with Brindle Chase now.",
    ],
)
def test_ordinary_phrases_are_not_addresses(addresses: AddressRecognizer, text: str) -> None:
    assert found(addresses, text) == []


def test_lower_case_street_needs_a_number_or_lives_at(addresses: AddressRecognizer) -> None:
    assert found(addresses, "she lives on brackenfold road") == ["brackenfold road"]
    assert found(addresses, "the brackenfold road lot were there") == []


def test_address_end_to_end(anon: Anonymiser) -> None:
    text = "Mum said they live at Flat 3, Kestrel House, Miller's Rise now, near the Crown Court."
    spans = masked(anon, text)
    assert spans.get("Flat 3, Kestrel House, Miller's Rise") == "ADDRESS"
    assert "Crown Court" not in "".join(spans)


# ----------------------------------------------------------------------------------------------------
# speaker labels (synthetic)
# ----------------------------------------------------------------------------------------------------
TEAMS = """Ó Briain, Siobhán   0:00:04
Thanks for making time. Can you start with your role?

Wiśniewska, Agnieszka (Thornbury Council)   0:00:19
Yes, I'm a family support worker.

Interviewer   0:01:02
And how long have you been there?

Ó Briain, Siobhán   0:01:10
Sorry, go on.
"""


def test_teams_labels_are_names_with_the_comma() -> None:
    rec = SpeakerLabelRecognizer(load_gazetteers())
    spans = [TEAMS[r.start : r.end] for r in rec.analyze(TEAMS, ["PERSON"])]
    assert spans == ["Ó Briain, Siobhán", "Wiśniewska, Agnieszka", "Ó Briain, Siobhán"]
    assert all(r.recognition_metadata["recognizer_name"] == "SpeakerLabelRecognizer" for r in rec.analyze(TEAMS, []))


def test_vtt_like_labels_forename_first_and_timestamp_first() -> None:
    text = "Oluwadamilare Adeyemi  00:01:02\nHello.\nCeri Prys-Evans  00:01:09\nHi.\n00:01:30  Ceri Prys-Evans\nYes.\n"
    rec = SpeakerLabelRecognizer(load_gazetteers())
    assert [text[r.start : r.end] for r in rec.analyze(text, [])] == [
        "Oluwadamilare Adeyemi",
        "Ceri Prys-Evans",
        "Ceri Prys-Evans",
    ]


def test_label_with_a_middle_initial() -> None:
    text = "Okafor, Chidi A.   0:00:04\nHello.\nBrennan, Aoife   0:00:10\nHi.\n"
    rec = SpeakerLabelRecognizer(load_gazetteers())
    assert [text[r.start : r.end] for r in rec.analyze(text, [])] == ["Okafor, Chidi A.", "Brennan, Aoife"]


def test_one_label_shaped_line_is_not_a_transcript() -> None:
    text = "Agenda\nBrindlecot 10:30\nWe met the team."
    assert SpeakerLabelRecognizer(load_gazetteers()).analyze(text, []) == []


def test_an_agenda_is_not_a_transcript() -> None:
    text = "Keynote Address  10:00\nPlenary Panel  11:00\nBreak  11:30\nWorkshops  12:00\n"
    assert SpeakerLabelRecognizer(load_gazetteers()).analyze(text, []) == []


def test_windows_line_ends() -> None:
    text = TEAMS.replace("\n", "\r\n")
    assert len(SpeakerLabelRecognizer(load_gazetteers()).analyze(text, [])) == 3


def test_teams_transcript_end_to_end(anon: Anonymiser) -> None:
    res = anon.anonymise(TEAMS)
    assert "Siobhán" not in res.text and "Wiśniewska" not in res.text and "Agnieszka" not in res.text
    assert "Interviewer   0:01:02" in res.text  # a role stays readable
    assert "family support worker" in res.text


NOTES = """Call notes - KT / DW
- KT: rang mum at 10:30, no answer.
- DW - tried again later. SW: to follow up with school.
- KT said she would visit Thursday. NFA - noted.
[DW] Spoke to the school; told KT about the meeting.
GP said nothing new.
"""


def test_initials_labels_and_their_other_mentions() -> None:
    rec = InitialsLabelRecognizer(load_gazetteers())
    spans = sorted((r.start, NOTES[r.start : r.end]) for r in rec.analyze(NOTES, []))
    assert [s for _, s in spans] == ["KT", "DW", "KT", "DW", "KT", "DW", "KT"]


def test_abbreviations_and_single_capitals_words_are_not_initials() -> None:
    text = "SW: visited.\nSW: rang.\nNFA - closed.\nNFA - again.\nHE said no.\nHE said yes.\nOK - fine.\nOK - done.\n"
    assert InitialsLabelRecognizer(load_gazetteers()).analyze(text, []) == []


def test_initials_spelled_out_by_a_key_even_when_they_look_like_an_abbreviation() -> None:
    text = "Present: Sadia Wardle (SW), Tomasz Jankowski.\nSW agreed to write to the school.\n"
    rec = InitialsLabelRecognizer(load_gazetteers())
    assert [text[r.start : r.end] for r in rec.analyze(text, [])] == ["SW", "SW"]
    role_key = "Social Worker (SW) to visit.\nSW: visited.\n"
    assert rec.analyze(role_key, []) == []


def test_organisations_are_not_initials() -> None:
    text = (
        "The Environmental Protection Agency (EPA) wrote.\nEPA: no comment.\nEPA: see above.\n"
        "CSC agreed to meet. CSC said no.\n"
    )
    assert InitialsLabelRecognizer(load_gazetteers()).analyze(text, []) == []


def test_initials_seen_once_as_label_only() -> None:
    assert InitialsLabelRecognizer(load_gazetteers()).analyze("KT: rang mum.\nNo answer.", []) == []


def test_notes_end_to_end(anon: Anonymiser) -> None:
    res = anon.anonymise(NOTES)
    assert "KT" not in res.text and "DW" not in res.text
    assert "SW:" in res.text and "NFA" in res.text and "GP said" in res.text


def test_structure_recognizers_names() -> None:
    names = [r.name for r in structure_recognizers(load_gazetteers())]
    assert names == ["AddressRecognizer", "SpeakerLabelRecognizer", "InitialsLabelRecognizer"]


def test_structure_recognizers_are_fast(addresses: AddressRecognizer) -> None:
    block = (TEAMS + NOTES + "They live at 12 Quarry Mews, Hollinbrook, near the high street. ") * 100
    recs = structure_recognizers(load_gazetteers())
    start = time.perf_counter()
    for rec in recs:
        rec.analyze(block, [])
    assert time.perf_counter() - start < 1.0  # well over 100,000 chars/s


# ----------------------------------------------------------------------------------------------------
# nicknames (one test per derivation rule; synthetic names)
# ----------------------------------------------------------------------------------------------------
def test_truncation_after_first_syllable() -> None:
    assert {"ben", "fitz"} <= derived_forms("Benedict") | derived_forms("Fitzroy")
    assert "wilk" in derived_forms("Wilkinson")


def test_truncation_to_three_or_four_letters() -> None:
    assert {"jac", "jaci"} <= derived_forms("Jacinta")
    assert "rado" in derived_forms("Radoslaw")


def test_s_becomes_z() -> None:
    assert "roz" in derived_forms("Rosamund")


def test_r_becomes_z_or_zz_with_endings() -> None:
    assert {"shaz", "shazza"} <= derived_forms("Sharon")
    assert {"kez", "kezza", "kezzer"} <= derived_forms("Kerry")


def test_th_becomes_f() -> None:
    assert "arfur" in derived_forms("Arthur")
    assert "kaf" in derived_forms("Kathleen")


def test_ending_o_with_doubling() -> None:
    assert "robbo" in derived_forms("Robertson")
    assert "wilko" in derived_forms("Wilkinson")
    assert "macca" in derived_forms("Macdonald")


def test_endings_y_ie_s_sy_ers_ski_ster() -> None:
    assert "fitzy" in derived_forms("Fitzpatrick")
    assert "tommie" in derived_forms("Tomasz")
    assert "mads" in derived_forms("Madeleine")
    assert "patsy" in derived_forms("Patricia")
    assert "jonners" in derived_forms("Jonathan")
    assert {"robski", "robster"} <= derived_forms("Robert")


def test_reduplication() -> None:
    assert "kiki" in derived_forms("Keira")
    assert "jojo" in derived_forms("Joanna")


def test_initial_vowel_dropped_and_back_clipping() -> None:
    assert {"liz", "beth"} <= derived_forms("Elizabeth")
    assert "tunde" in derived_forms("Babatunde")


def test_accents_and_possessives_fold() -> None:
    assert fold("Siobhán's") == "siobhan"
    assert "siob" in derived_forms("Siobhán")


def test_name_itself_and_function_words_are_not_forms() -> None:
    assert "herbert" not in derived_forms("Herbert")
    assert "her" not in derived_forms("Herbert")
    assert derived_forms("Al") == frozenset()


def test_index_lookup_and_nickname_of() -> None:
    index = NicknameIndex(["Wilkinson", "Sharon", "Radoslaw", "Keira", "Fitzroy"])
    assert index.lookup("Wilko") == "Wilkinson"
    assert index.lookup("wilko's") == "Wilkinson"
    assert index.lookup("Shazza") == "Sharon"
    assert index.lookup("Rado") == "Radoslaw"  # "Big Rado"
    assert index.lookup("Kiki") == "Keira"
    assert index.lookup("Fitz") == "Fitzroy"  # "Nurse Fitz"
    assert index.lookup("Sharon") is None  # a detected name is a name, not a nickname
    assert index.lookup("Gazza") is None
    assert nickname_of("Wilko", ["Wilkinson"]) == "Wilkinson"
    assert "Wilkinson" not in repr(index)


def test_initial_after_a_relation_word() -> None:
    index = NicknameIndex(["Marguerite", "Fitzroy"])
    assert index.lookup("M", previous="Auntie") == "Marguerite"
    assert index.lookup("M") is None
    assert NicknameIndex(["Marguerite", "Maisie"]).lookup("M", previous="Auntie") is None  # ambiguous


def test_common_words_need_a_capital_and_no_sentence_start() -> None:
    index = NicknameIndex(["Robinson", "Markham", "Cooper"])
    assert is_common_word("rob") and is_common_word("mark")
    assert index.lookup("rob") is None
    assert index.lookup("Rob") == "Robinson"
    assert index.lookup("Rob", sentence_start=True) is None
    assert index.lookup("mark") is None and index.lookup("Mark") == "Markham"
    assert index.lookup("robbers") is None  # an English plural
    assert index.lookup("cuppa") is None  # an English word in lower case
    assert index.lookup("robbo") == "Robinson"  # not a word: any case


def test_index_is_cheap_per_token() -> None:
    names = [f"{a}{b}son" for a in ("Brin", "Cal", "Dun", "Fen", "Gil") for b in ("ham", "ley", "wick", "more")]
    index = NicknameIndex(names)
    tokens = ["Brinno", "the", "Calley", "walked", "Dunny", "robbers", "Fenners"] * 20_000
    start = time.perf_counter()
    for token in tokens:
        index.lookup(token)
    assert time.perf_counter() - start < 1.0
