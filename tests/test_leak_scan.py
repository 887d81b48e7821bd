"""The leak scan of ``bench/leak_scan.py`` on a tiny inline SYNTHETIC set: after a real ``qualcode run``,
a forced release of everything held, a coder's pages and the exports, no DIRECT identifier is in the
database, the exports or the rendered pages.

Every name, place, number and address below is invented for this test. The batch runs without Prefect
(``--no-prefect``) to stay well under a minute; ``tests/test_flow_privacy.py`` covers Prefect's storage.
"""

from __future__ import annotations

import importlib.util

import pytest

from pipeline.privacy_scan import GoldDoc, GoldIndex
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow]


def _doc(doc_id: str, text: str, marked: list[tuple[str, str]]) -> GoldDoc:
    """Gold spans for every occurrence of each (surface, form), longest first; spans never overlap."""
    spans: list[tuple[int, int, str]] = []
    for surface, form in sorted(marked, key=lambda m: -len(m[0])):
        start = text.find(surface)
        assert start >= 0, surface
        while start >= 0:
            end = start + len(surface)
            if not any(a < end and start < b for a, b, _ in spans):
                spans.append((start, end, form))
            start = text.find(surface, start + 1)
    return GoldDoc(doc_id, text, tuple(sorted(spans)))


DOCS = [
    (_doc("syn-1",
          "Interviewer: How did the referral come in?\n"
          "Respondent: Mrs Brannagh rang the MASH about her son Corwin Feltwell. Corwin is in Year 8 and "
          "had been missing twice. His nan lives at 14 Quillet Lane and you can reach her on 07700 900731.\n"
          "Interviewer: And then?\n"
          "Respondent: It went to a Section 47 and Corwin was seen that week.\n",
          [("Brannagh", "name"), ("Corwin Feltwell", "name"), ("Corwin", "name"), ("14 Quillet Lane", "address"),
           ("07700 900731", "phone")]), ".txt"),
    (_doc("syn-2",
          "Interviewer: Tell me about the Channel panel.\n"
          "Respondent: The DSL, Odalys Marchbank, referred Tobiah after he shared videos on his account "
          "@tobiah_zx99. Tobiah's dad, Mr Pengarth, was worried as well. Summer holidays were the hard bit.\n",
          [("Odalys Marchbank", "name"), ("Tobiah", "name"), ("@tobiah_zx99", "handle"), ("Pengarth", "name")]),
     ".txt"),
    (_doc("syn-3",
          "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\n<v Ysolde Crannock>So the Early Help plan stalled.\n\n"
          "00:00:05.000 --> 00:00:09.000\n<v Interviewer>Why was that?\n\n"
          "00:00:09.000 --> 00:00:14.000\n<v Ysolde Crannock>Because Marisol Quenby kept missing school, "
          "her NHS number is 999 412 7730.\n",
          [("Ysolde Crannock", "speaker_label"), ("Marisol Quenby", "name"), ("999 412 7730", "id_number")]),
     ".vtt"),
]


def _bench_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_leak_scan", REPO_ROOT / "bench" / "leak_scan.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scan_finds_what_it_should_and_discounts_ordinary_words() -> None:
    index = GoldIndex([doc for doc, _ in DOCS])
    assert index.span_count == 15 and len(index.surfaces) == 12
    # a planted leak, in another case and compacted, is found; the gold's own ordinary words are not
    assert index.scan("notes: corwin said hi")
    assert index.scan("MarisolQuenby")
    assert not index.scan("Summer holidays were the hard bit. [PERSON_1] rang the MASH.")
    # "Summer" is a name in this gold text and an ordinary word in "Summer holidays" (outside the gold)
    summer = GoldIndex([GoldDoc("syn-s", "Summer is eleven. The Summer holidays were long; Summer moved.",
                                ((0, 6, "name_word"), (49, 55, "name_word")))])
    assert not summer.scan("[PERSON_1] is eleven. The Summer holidays were long; [PERSON_1] moved.")
    assert summer.scan("[PERSON_1] is eleven. The Summer holidays were long; Summer moved.")
    # initials are whole tokens: not a two-letter run inside a random id or token
    initials = GoldIndex([GoldDoc("syn-i", "YC: we met twice.", ((0, 2, "speaker_label"),))])
    assert not initials.scan('csrf="k2-YC_9f" id=a/YC+z')
    assert initials.scan("[PERSON_2]: we met. YC: twice.")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One scan for the module: run, force-release, run, pages, exports (one file is named after a person)."""
    result = _bench_module().run_leak_scan(DOCS, tmp_path_factory.mktemp("leak"), prefect=False, decisions=3)
    result["places"] = result["report"].as_dict()
    return result


def _found(places: dict, *prefixes: str) -> dict:
    return {p: row["surfaces_by_form"] for p, row in places.items() if p.startswith(prefixes) and row["surfaces_found"]}


def test_no_identifier_in_database_exports_or_pages(scanned: dict) -> None:
    assert scanned["transcripts"] == 3 and scanned["quarantined"] == 0
    assert scanned["pages"] >= 2 and any(name.endswith(".qdpx") for name in scanned["exports"])
    places = scanned["places"]
    assert any(p.startswith("db.segments") and row["haystacks"] for p, row in places.items())
    leaks = _found(places, "db.", "exports", "pages")
    assert not leaks, f"DIRECT identifiers (by form) found: {leaks}"
