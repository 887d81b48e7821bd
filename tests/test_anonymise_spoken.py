"""Recognisers for identifiers as people say them (pipeline/anonymise/recognizers/spoken.py).

All fixtures are SYNTHETIC: invented names, Ofcom drama phone numbers (07700 900xxx), NHS numbers with the
999 test prefix, National Insurance numbers with the QQ specimen prefix, invented postcodes and domains.
"""

from __future__ import annotations

import time

import pytest

from pipeline.anonymise.recognizers.spoken import (
    SpelledNameRecognizer,
    SpokenDateRecognizer,
    SpokenEmailRecognizer,
    SpokenHandleRecognizer,
    SpokenNhsNumberRecognizer,
    SpokenPhoneRecognizer,
    SpokenPostcodeRecognizer,
    SpokenReferenceRecognizer,
    spoken_pieces,
    spoken_recognizers,
)


def found(recognizer, text: str) -> list[tuple[str, str, float]]:
    return [(r.entity_type, text[r.start : r.end], r.score) for r in recognizer.analyze(text, [])]


def surfaces(recognizer, text: str) -> set[str]:
    return {s for _, s, _ in found(recognizer, text)}


# ---------------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("words", "digits"),
    [
        ("oh seven seven double oh nine hundred", ["0", "7", "7", "00", "900"]),
        ("nineteen ninety nine", ["19", "99"]),
        ("two thousand and nine", ["2009"]),
        ("triple seven", ["777"]),
        ("nine hundred and twelve", ["912"]),
        ("zero eight", ["0", "8"]),
    ],
)
def test_spoken_pieces(words: str, digits: list[str]) -> None:
    pieces = spoken_pieces(words, 0, len(words))
    assert [p.digits for p in pieces] == digits
    assert pieces[0].start == 0 and pieces[-1].end == len(words)  # offsets index the original words


def test_spoken_pieces_keep_offsets_into_the_text() -> None:
    text = "ring oh seven seven later"
    pieces = spoken_pieces(text, 5, 20)
    assert [text[p.start : p.end] for p in pieces] == ["oh", "seven", "seven"]


class TestSpokenPhone:
    rec = SpokenPhoneRecognizer()

    @pytest.mark.parametrize(
        ("text", "number"),
        [
            (
                "her mobile is oh seven seven double oh, nine hundred, one two three",
                "oh seven seven double oh, nine hundred, one two three",
            ),
            (
                "ring oh seven seven oh oh nine oh oh four five six thanks",
                "oh seven seven oh oh nine oh oh four five six",
            ),
            (
                "it's plus four four seven seven double oh nine hundred four five six",
                "plus four four seven seven double oh nine hundred four five six",
            ),
            ("call 07700 nine hundred, seven eight nine", "07700 nine hundred, seven eight nine"),
        ],
    )
    def test_phone_said_in_words(self, text: str, number: str) -> None:
        assert found(self.rec, text) == [("PHONE_NUMBER", number, 0.85)]

    @pytest.mark.parametrize(
        "text",
        [
            "we had seven or eight families, two three times a week",
            "nine nine nine one two three four",  # too short for a UK number
            "one two three four five six seven eight nine one two three four",  # no leading zero
        ],
    )
    def test_not_a_phone(self, text: str) -> None:
        assert found(self.rec, text) == []


class TestSpokenNhsNumber:
    rec = SpokenNhsNumberRecognizer()

    def test_checksum_valid_number_said_in_words(self) -> None:
        text = "his NHS number is nine nine nine, oh double oh, double oh two six, I think"
        assert found(self.rec, text) == [("UK_NHS", "nine nine nine, oh double oh, double oh two six", 0.85)]

    def test_checksum_invalid_number_is_not_nhs(self) -> None:
        assert found(self.rec, "nine nine nine, oh double oh, double oh two seven") == []


class TestSpokenReference:
    rec = SpokenReferenceRecognizer()

    @pytest.mark.parametrize(
        ("text", "ref"),
        [
            ("the case number was four four seven one nine, yeah", "four four seven one nine"),
            ("crime reference one three double seven two eight", "one three double seven two eight"),
            ("Case reference D K three three oh one, two two. Home visit", "D K three three oh one, two two"),
            ("the LADO ref, twenty-two slash oh six one four. Then", "twenty-two slash oh six one four"),
        ],
    )
    def test_reference_after_its_label(self, text: str, ref: str) -> None:
        assert surfaces(self.rec, text) == {ref}

    def test_national_insurance_said_aloud(self) -> None:
        text = "and her NI number, Q Q one two, three four, five six, C. Then"
        assert found(self.rec, text) == [("UK_NINO", "Q Q one two, three four, five six, C", 0.85)]

    @pytest.mark.parametrize(
        "text",
        [
            "the number of cases went up by two thousand and nine",  # a count, not a reference
            "she had four four seven one nine of them",  # no label
        ],
    )
    def test_not_a_reference(self, text: str) -> None:
        assert [e for e, _, _ in found(self.rec, text) if e == "CASE_REF"] == []


# ---------------------------------------------------------------------------------------------- dates
class TestSpokenDate:
    rec = SpokenDateRecognizer()

    @pytest.mark.parametrize(
        ("text", "date", "score"),
        [
            (
                "born on the seventh of April two thousand and eleven",
                "the seventh of April two thousand and eleven",
                0.8,
            ),
            ("date of birth twenty first of the sixth oh eight", "twenty first of the sixth oh eight", 0.8),
            ("she was born on the second of october", "the second of october", 0.8),
            ("we met on October the twelfth and talked", "October the twelfth", 0.7),
            ("it happened on Friday the fourth at school", "Friday the fourth", 0.7),
            ("since June twenty twenty two", "June twenty twenty two", 0.8),
        ],
    )
    def test_dates_said_in_words(self, text: str, date: str, score: float) -> None:
        assert ("DATE_TIME", date, score) in found(self.rec, text)

    def test_date_of_birth_said_as_numbers(self) -> None:
        text = "date of birth oh six, one one, oh seven"
        assert surfaces(self.rec, text) == {"oh six, one one, oh seven"}

    def test_year_in_words_is_a_doubt(self) -> None:
        assert found(self.rec, "back in twenty eighteen it changed") == [("DATE_TIME", "twenty eighteen", 0.5)]

    def test_bare_day_after_a_date_is_a_doubt(self) -> None:
        text = "on the tenth of May, no, sorry, the twelfth, because"
        assert ("DATE_TIME", "the twelfth", 0.5) in found(self.rec, text)

    @pytest.mark.parametrize(
        "text",
        [
            "she has been there two years and three months",
            "in two thousand pounds of debt",
            "they live on the third floor",
            "the second time she came in",
            "it was the first of many visits",
        ],
    )
    def test_durations_and_ordinals_stay(self, text: str) -> None:
        assert found(self.rec, text) == []


# ---------------------------------------------------------------------------------------------- postcodes
class TestSpokenPostcode:
    rec = SpokenPostcodeRecognizer()

    @pytest.mark.parametrize(
        ("text", "postcode"),
        [
            ("the postcode is W F nine, three D Q, I think", "W F nine, three D Q"),
            ("it was el ess nine four ay jay or something", "el ess nine four ay jay"),
            ("uh s k four one x z yeah", "s k four one x z"),
            ("she's at HX seven, two QB now", "HX seven, two QB"),
        ],
    )
    def test_postcode_said_aloud(self, text: str, postcode: str) -> None:
        assert found(self.rec, text) == [("POSTCODE", postcode, 0.85)]

    @pytest.mark.parametrize(
        "text",
        [
            "are you ok to see me at two",
            "a b c d e f",
            "LS6 2AB",  # written: PostcodeRecognizer has it
        ],
    )
    def test_not_a_spoken_postcode(self, text: str) -> None:
        assert found(self.rec, text) == []


# ---------------------------------------------------------------------------------------------- e-mail
class TestSpokenEmail:
    rec = SpokenEmailRecognizer()

    @pytest.mark.parametrize(
        ("text", "email"),
        [
            ("his email is dee dot parkes at gmail dot com, ok", "dee dot parkes at gmail dot com"),
            ("it's t morven forty at hotmail dot co dot uk and", "t morven forty at hotmail dot co dot uk"),
            ("send it to lacey underscore q at outlook dot com.", "lacey underscore q at outlook dot com"),
            (
                "it's rob dot t two thousand and ten at yahoo dot co dot uk",
                "rob dot t two thousand and ten at yahoo dot co dot uk",
            ),
            ("email j dot amberley at example.org please", "j dot amberley at example.org"),
        ],
    )
    def test_email_said_aloud(self, text: str, email: str) -> None:
        assert found(self.rec, text) == [("EMAIL_ADDRESS", email, 0.85)]

    @pytest.mark.parametrize(
        "text",
        [
            "Ofsted don't look at it. So it's down to us",  # a sentence end is no dot
            "I was at school dot I mean",  # "school.i" has no real suffix
            "she's at home",
        ],
    )
    def test_not_an_email(self, text: str) -> None:
        assert found(self.rec, text) == []


# ---------------------------------------------------------------------------------------------- handles
class TestSpokenHandle:
    rec = SpokenHandleRecognizer()

    @pytest.mark.parametrize(
        ("text", "handle", "score"),
        [
            ("his snap is grey hawk forty four and he adds everyone", "grey hawk forty four", 0.7),
            ("her insta's moon child seventy seven, she posts a lot", "moon child seventy seven", 0.7),
            ("he's on tiktok, at tall ben live.", "at tall ben live", 0.55),
            ("on Snap. I'm frost byte twelve, like", "frost byte twelve", 0.7),
            ("my gamertag is red fox underscore oh three.", "red fox underscore oh three", 0.7),
        ],
    )
    def test_handle_said_in_words(self, text: str, handle: str, score: float) -> None:
        assert ("HANDLE", handle, score) in found(self.rec, text)

    def test_spelled_handle_with_underscores_needs_no_context(self) -> None:
        text = "b i g underscore r o b underscore one two you can write that"
        assert surfaces(self.rec, text) == {"b i g underscore r o b underscore one two"}

    @pytest.mark.parametrize(
        "text",
        [
            "her insta is private now",
            "I'm tired and on insta all day",
            "she was at school at nine",  # "at" without a platform near
            "she messaged me at gmail dot com",  # an e-mail domain, not a handle
        ],
    )
    def test_not_a_handle(self, text: str) -> None:
        assert found(self.rec, text) == []


# ---------------------------------------------------------------------------------------------- spelled names
class TestSpelledName:
    rec = SpelledNameRecognizer()

    @pytest.mark.parametrize(
        ("text", "spelled"),
        [
            ("that's K, Y, R, A, N, yeah", "K, Y, R, A, N"),
            ("it's spelt m a r l i s e", "m a r l i s e"),
            ("Tamsin, T-A-M-S-I-N. Ok", "T-A-M-S-I-N"),
            ("she goes z a r a h i think", "z a r a h"),
        ],
    )
    def test_spelled_names(self, text: str, spelled: str) -> None:
        assert spelled in surfaces(self.rec, text)

    def test_the_spelled_name_is_masked_where_it_is_said(self) -> None:
        text = "Tamsin, T-A-M-S-I-N. Tamsin was there"
        spans = {(s, score) for _, s, score in found(self.rec, text)}
        assert ("T-A-M-S-I-N", 0.85) in spans and ("Tamsin", 0.75) in spans

    def test_double_letter(self) -> None:
        assert found(self.rec, "Rhiannon with a double-n") == [("PERSON", "double-n", 0.6)]

    @pytest.mark.parametrize(
        "text",
        [
            "plan a b or c",
            "we do the a b c thing",
            "c a m h s said no",  # an acronym on the allow list
            "the n h s is fine",
        ],
    )
    def test_letters_that_are_not_a_name(self, text: str) -> None:
        assert found(self.rec, text) == []


# ---------------------------------------------------------------------------------------------- all
def test_results_carry_the_recognizer_name() -> None:
    rec = SpokenPhoneRecognizer()
    (result,) = rec.analyze("ring oh seven seven oh oh nine oh oh four five six", [])
    assert result.recognition_metadata["recognizer_name"] == "SpokenPhoneRecognizer"


def test_prose_costs_little() -> None:
    """Ordinary prose (no spoken identifiers) must not slow the anonymiser (it runs at ~35,000 chars/s)."""
    prose = (
        "Interviewer: And how did the meeting go with the family support worker last week? "
        "Respondent: It was fine, we talked about school, about the two younger ones and the house. "
    ) * 200
    recs = spoken_recognizers()
    start = time.perf_counter()
    for rec in recs:
        rec.analyze(prose, [])
    elapsed = time.perf_counter() - start
    assert len(prose) / elapsed > 300_000
