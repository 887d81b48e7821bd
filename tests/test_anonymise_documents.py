"""Documents: speaker labels, VTT voice tags, offsets, consistent pseudonyms and variants (SYNTHETIC text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.anonymise import Anonymiser, InMemoryPseudonymStore, build_anonymiser
from pipeline.anonymise.types import TURN_SEPARATOR
from pipeline.ingest.types import RawDocument, RawTurn
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def anon() -> Anonymiser:
    return build_anonymiser(Settings())


def _doc(*turns: tuple[str | None, str, str]) -> RawDocument:
    return RawDocument(
        path=Path("synthetic.txt"),
        format="txt",
        turns=[RawTurn(text, speaker, role) for speaker, role, text in turns],  # type: ignore[arg-type]
        content_hash="0" * 64,
    )


def test_speaker_labels_pseudonymised_consistently_roles_kept(anon: Anonymiser) -> None:
    raw = _doc(
        ("Interviewer", "interviewer", "How did the referral come in?"),
        ("Jo Smith", "participant", "well the school rang me, I'm the DSL."),
        ("P2 (Dev)", "participant", "In our area it goes to the MASH."),
        ("Interviewer", "interviewer", "Jo, did Dev agree with that?"),
    )
    store = InMemoryPseudonymStore()
    doc = anon.anonymise_document(raw, store)
    speakers = [t.speaker for t in doc.turns]
    assert speakers[0] == speakers[3] == "Interviewer"
    assert speakers[1] is not None and speakers[1].startswith("[PERSON_")
    assert speakers[2] is not None and speakers[2].startswith("P2 ([PERSON_")
    last = doc.text[doc.turns[3].start : doc.turns[3].end]
    assert "Jo" not in last and "Dev" not in last
    assert speakers[1] in last  # "Jo" in the text = the label's person
    assert doc.labels_replaced == 2


def test_document_offsets(anon: Anonymiser) -> None:
    raw = _doc(
        ("Interviewer", "interviewer", "Where does Kyle go to school?"),
        ("Participant", "participant", "Kyle is at Oakwood Academy, his mum Ayesha rang 07700 900461."),
    )
    doc = anon.anonymise_document(raw)
    original = TURN_SEPARATOR.join(t.text for t in raw.turns)
    assert doc.text == TURN_SEPARATOR.join(doc.text[t.start : t.end] for t in doc.turns)
    for span in doc.spans:
        assert doc.text[span.out_start : span.out_end] == span.placeholder
        assert original[span.start : span.end] in {"Kyle", "Oakwood Academy", "Ayesha", "07700 900461"}
    assert {s.entity for s in doc.spans} == {"PERSON", "SCHOOL", "PHONE"}


def test_plain_document_without_speakers(anon: Anonymiser) -> None:
    raw = _doc((None, "unknown", "Case review. Kieran was known to Children's Services."), (None, "unknown", "kieran"))
    doc = anon.anonymise_document(raw)
    assert [t.speaker for t in doc.turns] == [None, None]
    assert "kieran" not in doc.text.casefold()
    assert "Children's Services" in doc.text


def test_vtt_voice_tags_via_ingest(anon: Anonymiser, tmp_path: Path) -> None:
    from pipeline.ingest import read_document

    path = tmp_path / "synthetic.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Marcus Bell>zak was radicalised on telegram\n\n"
        "00:00:04.500 --> 00:00:06.000\n<v Interviewer>Did Marcus tell the school?\n",
        encoding="utf-8",
    )
    doc = anon.anonymise_document(read_document(path, Settings()))
    assert doc.turns[0].speaker is not None and doc.turns[0].speaker.startswith("[PERSON_")
    assert doc.turns[1].speaker == "Interviewer"
    assert doc.turns[0].start_time == 1.0
    assert "marcus" not in doc.text.casefold() and "zak" not in doc.text.casefold()
    assert doc.turns[0].speaker in doc.text  # "Marcus" in the question is the label's person


def test_voice_tags_left_in_plain_text(anon: Anonymiser) -> None:
    res = anon.anonymise("<v Jo Smith>hello there\n<v Interviewer>and you?")
    assert "Jo Smith" not in res.text and "<v Interviewer>" in res.text


def test_pseudonyms_consistent_across_documents(anon: Anonymiser) -> None:
    store = InMemoryPseudonymStore()
    first = anon.anonymise("Kyle goes to Oakwood Academy in Leeds.", store)
    second = anon.anonymise("They moved Kyle from Oakwood Academy; Leeds was too far.", store)
    assert {s.placeholder for s in first.spans} == {s.placeholder for s in second.spans}


def test_name_variants_link(anon: Anonymiser) -> None:
    store = InMemoryPseudonymStore()
    a = anon.anonymise("Kieran was referred by Ayesha Ahmed.", store)
    b = anon.anonymise("Kieron, Kez to his mates, said Mrs Ahmed knew.", store)
    kieran = {s.placeholder for s in a.spans if "Kieran" in "Kieran was referred by Ayesha Ahmed."[s.start : s.end]}
    assert len(kieran) == 1
    placeholders_b = [s.placeholder for s in b.spans]
    assert placeholders_b.count(next(iter(kieran))) == 2  # Kieron and Kez
    ahmed_a = [s.placeholder for s in a.spans if s.placeholder not in kieran]
    assert ahmed_a and ahmed_a[0] in placeholders_b  # Mrs Ahmed = Ayesha Ahmed


def test_different_people_stay_apart(anon: Anonymiser) -> None:
    res = anon.anonymise("Kyle and Kane and Kieran were in the same group chat.")
    assert len({s.placeholder for s in res.spans}) == 3


def test_surrogate_style_is_consistent_and_marked() -> None:
    anon = build_anonymiser(Settings(pseudonym_style="surrogate"))
    store = InMemoryPseudonymStore()
    a = anon.anonymise("Kyle was referred.", store)
    b = anon.anonymise("Later Kyle moved away.", store)
    surrogate = a.text.split(" was")[0]
    assert surrogate.startswith("[") and surrogate.endswith("]") and "Kyle" not in surrogate
    assert surrogate in b.text
    assert a.spans[0].placeholder == "[PERSON_1]"  # the log keeps the placeholder


def test_upper_case_name_label_is_not_a_role_code(anon: Anonymiser) -> None:
    assert anon.is_role_label("INT") and anon.is_role_label("P3") and anon.is_role_label("Social Worker 2")
    assert not anon.is_role_label("KYLE") and not anon.is_role_label("Jo Smith")


def test_titles_keep_spouses_apart(anon: Anonymiser) -> None:
    store = InMemoryPseudonymStore()
    assert store.placeholder("PERSON", "Mr Ahmed") != store.placeholder("PERSON", "Mrs Ahmed")
    assert store.placeholder("PERSON", "Mrs Ahmed") == store.placeholder("PERSON", "Mrs. Ahmed")


def test_a_full_name_voice_tag_is_masked_whole_and_its_surname_everywhere(anon: Anonymiser) -> None:
    # Regression: "<v Imran Siddiqui>" once became "[PERSON_5] Siddiqui": only the gazetteer first name matched.
    raw = _doc(
        ("Imran Siddiqui", "participant", "I run the practice team, we mentor young people."),
        ("Jo Pemberton (interviewer)", "interviewer", "And does Siddiqui's team cover the county?"),
        ("Interviewer", "interviewer", "Thank you."),
    )
    doc = anon.anonymise_document(raw, InMemoryPseudonymStore())
    speakers = [t.speaker for t in doc.turns]
    assert speakers[0] is not None and speakers[0].startswith("[PERSON_") and "Siddiqui" not in speakers[0]
    assert speakers[1] is not None and speakers[1].endswith("(interviewer)") and "Pemberton" not in speakers[1]
    assert speakers[2] == "Interviewer"
    assert "Siddiqui" not in doc.text and speakers[0] in doc.text  # the surname alone maps to the same person
