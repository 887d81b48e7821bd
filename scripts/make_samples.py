"""Generate the binary sample files in data/sample/ (two .docx and one .pdf).

    .venv/bin/python scripts/make_samples.py [--out data/sample]

Why a script: binaries cannot be reviewed in a diff, so their content lives here as text and the files are
rebuilt from it. Output is byte-for-byte reproducible (fixed ZIP timestamps, fixed document properties,
no PDF creation date), so re-running does not change the content hash the batch flow uses to recognise a
file it has already processed.

Everything here is SYNTHETIC and fictitious: no real person, place, school or case. The identifiers in it
(names, addresses, postcodes, phone numbers in Ofcom's drama ranges, NHS numbers with valid check digits,
emails, case references) are planted for the anonymiser to catch; data/sample/identifiers.json lists them.

The PDF is written object by object (pypdf reads PDFs but cannot lay out text), with the standard
Helvetica font in WinAnsiEncoding, so it has a real text layer that pypdf extracts.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from datetime import datetime
from pathlib import Path

MARKER = "# SYNTHETIC — fictitious sample made for testing qualcode. No real person, place, school or case."
FIXED_ZIP_TIME = (2021, 2, 1, 9, 0, 0)

# --------------------------------------------------------------------------------------------------
# 07: social worker interview, Word paragraphs with speaker labels
# --------------------------------------------------------------------------------------------------
INTERVIEW_07: list[tuple[str, str]] = [
    ("Interviewer", "Thank you for taking part. Could you start by describing your role?"),
    ("Participant", "I'm a senior social worker in the Harrowfield child protection team. I've been qualified "
     "nine years, and for the last three I've picked up most of the cases with an extremism element, mainly "
     "because I did one and then people kept sending them to me."),
    ("Interviewer", "How common are those cases in Harrowfield?"),
    ("Participant", "We're a priority area, so more than most. I'd say I hold two or three at any time. Across "
     "the service it's still a small share of the work, but it's steady."),
    ("Interviewer", "Could you talk me through a case that stays with you?"),
    ("Participant", "The Rahman family. Dad, Tariq Rahman, had served a sentence for a terrorism offence and "
     "was due for release. There were two children, Yusuf, who was twelve, and Maryam, who was nine. They "
     "lived with mum at 5 Denholme Gardens, M14 6RT, and both went to Brookfield Primary School until Yusuf "
     "moved up."),
    ("Participant", "The referral was triggered by the release date, not by anything the children had done. "
     "Our reference was HF-CSC-2020-7731."),
    ("Interviewer", "How did you become involved?"),
    ("Participant", "Probation flagged the release to the MAPPA meeting, and I was invited because of the "
     "children. That was the first time I'd sat in a MAPPA meeting and it was hugely useful. I got a much "
     "fuller picture of the risk than I would ever have got from a referral form."),
    ("Interviewer", "Was the Prevent team involved as well?"),
    ("Participant", "Not at MAPPA, which I thought was a gap. They weren't invited, so they weren't seeing the "
     "same information. I ended up being the bridge between the two, which isn't a great position to be in."),
    ("Interviewer", "What was the most difficult part of the work?"),
    ("Participant", "Working with a family where the risk comes from inside it. When it's dad's views the "
     "children are hearing, you're not going to get anywhere by asking dad to help. Mum was caught in the "
     "middle. She loved him and she was frightened of what he'd bring back into the house."),
    ("Participant", "And I felt out of my depth in that house at times. I didn't know how far I could challenge "
     "what was being said without putting the children or myself at risk."),
    ("Interviewer", "How did information sharing work in that case?"),
    ("Participant", "Counter Terrorism Policing knew far more than they could tell me. I understood why, but I "
     "had to sit in front of that mum and not tell her everything I knew, which goes against everything I was "
     "trained to do. You can't build a relationship when they can see you're holding something back."),
    ("Interviewer", "How did the children present?"),
    ("Participant", "Maryam was fine, honestly, a bubbly little girl. yusuf was quieter. He'd started repeating "
     "things at school, and he was anxious, not sleeping. The GP referred him to CAMHS, NHS number 943 476 5919 "
     "on the letter, and he waited the best part of a year."),
    ("Interviewer", "Did the case meet the threshold for a plan?"),
    ("Participant", "It went to an initial child protection conference and both children were placed on a "
     "Child Protection plan under emotional harm. Some colleagues thought that was over the top, because mum's "
     "care was good. I felt the exposure to those views was itself the harm."),
    ("Interviewer", "What approaches did you use with the family?"),
    ("Participant", "Systemic work, mostly. Looking at the relationships in the family rather than treating "
     "Yusuf as the problem. And we used a set of questions the Prevent team had put together, about networks, "
     "views, wellbeing and history, which gave me a structure for conversations I'd otherwise have avoided."),
    ("Interviewer", "How did the community respond?"),
    ("Participant", "Mum was terrified of people finding out. She said, we'll be known as the terrorist "
     "family. We worked with a community organisation she trusted, rather than anything with Prevent on it, "
     "and that was what kept her engaged."),
    ("Interviewer", "How confident do you feel about these cases now?"),
    ("Participant", "More confident than I was, but that's experience, not training. I did the e-learning and "
     "a WRAP session years ago. What I'd really like is guidance on intra-familial cases, because that's where "
     "I feel least sure, and on faith, because I worry about saying the wrong thing."),
    ("Interviewer", "Who do you go to for advice?"),
    ("Participant", "The Prevent coordinator, and my manager, Naomi Osei, who's held a few herself. Other "
     "social workers come to me now, which is odd when I still feel I'm learning. If I left tomorrow I'm not "
     "sure anyone would pick it up, because none of this is written down."),
    ("Interviewer", "Is there anything else you'd like to add?"),
    ("Participant", "Only that these cases need time, and time is the thing we haven't got. With my caseload, "
     "the Rahman case alone could have been a full-time job."),
    ("Interviewer", "Thank you very much."),
]

# --------------------------------------------------------------------------------------------------
# 08: strategic lead interview, laid out as a Time | Speaker | Text table
# --------------------------------------------------------------------------------------------------
TABLE_08: list[tuple[str, str, str]] = [
    ("00:00:05", "Interviewer", "Thank you for joining. Could you tell me about your role?"),
    ("00:00:11", "Head of Service", "I'm Paula Lindqvist, Head of Service for Safeguarding and Quality "
     "Assurance at Kingsworth County Council. I'm the strategic lead for extra-familial harm, which since "
     "last year explicitly includes radicalisation."),
    ("00:00:42", "Interviewer", "How common are radicalisation cases in Kingsworth?"),
    ("00:00:47", "Head of Service", "Rare. We're not a priority area. We might see ten referrals in a year "
     "and most of those are stepped down. We only started flagging extremism on the case management system "
     "in 2020, so our figures before that are guesswork."),
    ("00:01:15", "Interviewer", "What changed in 2020?"),
    ("00:01:19", "Head of Service", "We refreshed the threshold document in September 2020 and put "
     "extremism in alongside exploitation and other extra-familial harm. Triage had been telling us they had "
     "nothing to point to when a referral had an extremism element and no parenting concerns."),
    ("00:01:52", "Interviewer", "Has it made a difference?"),
    ("00:01:55", "Head of Service", "I think so. Triage decisions are more consistent, and the Channel panel "
     "uses the same document, so if they see risk rising they can escalate to us in our own language. Not "
     "everyone agrees it needed its own line, mind. Some managers say we manage county lines without one."),
    ("00:02:30", "Interviewer", "How do radicalisation cases fit with your exploitation work?"),
    ("00:02:34", "Head of Service", "That's the big shift. Radicalisation now goes to the MACE meeting, the "
     "multi-agency child exploitation meeting, and we map peers, places and online spaces just as we do for "
     "county lines. It's contextual safeguarding, applied to extremism."),
    ("00:03:05", "Interviewer", "Can you give an example?"),
    ("00:03:08", "Head of Service", "We had a cluster last spring. One referral, Jamie-Lee Harper, fifteen, "
     "at St Edmund's C of E Academy, and when we mapped her contacts there were six others in the same group "
     "chat. The material was coming from an adult who lived on Orchard Way, BS16 9LW. The police dealt with "
     "him, and we worked with the school and the whole group rather than one child."),
    ("00:03:49", "Interviewer", "How does Kingsworth work with the police and Prevent?"),
    ("00:03:53", "Head of Service", "Well, at a strategic level. There's one police Prevent officer for the "
     "county and he's excellent, but that's a single point of failure. Counter Terrorism Policing are "
     "regional, so we're one of many authorities they deal with, and we feel it."),
    ("00:04:20", "Interviewer", "Do you have a specialist role in children's social care?"),
    ("00:04:24", "Head of Service", "Not yet. We advertised an extremism lead post twice and nobody applied. "
     "It's a niche skill set, and without priority funding we can't pay a premium. For now, each team has a "
     "Prevent Champion, which is better than nothing."),
    ("00:04:51", "Interviewer", "What are the main challenges at a strategic level?"),
    ("00:04:55", "Head of Service", "Consistency, and capacity. Experience sits with a handful of people, and "
     "when one of them leaves it goes with them. Our turnover is high and half of one team are agency staff. "
     "Nobody has a spare afternoon for a Prevent course with thirty cases each."),
    ("00:05:24", "Interviewer", "How do you support staff confidence?"),
    ("00:05:28", "Head of Service", "Group supervision and reflective sessions after every case, and a "
     "multi-agency debrief when a case closes. We have a resource page on the intranet with the pathway and "
     "contacts. What we don't have is a practical toolkit, and I'd like one."),
    ("00:05:55", "Interviewer", "Would sharing practice with other areas help?"),
    ("00:05:59", "Head of Service", "Enormously. We get so few that it makes no sense to invent our own "
     "tools. I raised it at the regional ADCS meeting and there's appetite for a regional network. Areas that "
     "see these cases every week should be able to lend their learning to areas like us."),
    ("00:06:30", "Interviewer", "Has inspection played a part?"),
    ("00:06:34", "Head of Service", "Ofsted asked about extremism at our last inspection, and I think that "
     "focused minds more than anything I could have said."),
    ("00:06:50", "Interviewer", "If colleagues want to follow up, how can they reach you?"),
    ("00:06:55", "Head of Service", "By email, p.lindqvist@kingsworth.gov.uk, or through my PA on "
     "0117 496 0925."),
    ("00:07:08", "Interviewer", "Thank you very much for your time."),
]

# --------------------------------------------------------------------------------------------------
# 12: a serious-case-review style document (no speakers)
# --------------------------------------------------------------------------------------------------
SCR_TITLE = "Serious Case Review: Child T"
SCR_12: list[str] = [
    "Northmere Safeguarding Children Partnership. Serious Case Review: Child T. Review reference "
    "SCR-NM-2020-03. Final report for publication.",
    "1. Introduction",
    "This review concerns Child T, a young man who was aged 16 when the events that led to this review took "
    "place. Child T's date of birth is 17/03/2004. He lived with his mother and his older brother, Jordan, at "
    "an address on Fernhill Road, BD5 7JN, and attended Northmere Park Academy until he was excluded in "
    "Year 10.",
    "The review was commissioned after Child T was arrested for preparing an act of terrorism. The purpose "
    "of the review is not to apportion blame but to identify what agencies can learn about how they work "
    "together to safeguard children at risk of radicalisation.",
    "2. Summary of the case",
    "Child T first came to the attention of services when his school referred him to the MASH for concerns "
    "about his behaviour and low attendance. The referral did not mention extremism. It was screened as a "
    "school attendance issue and closed with advice to the school.",
    "Eight months later, the school made a second referral after Child T shared Extreme Right-Wing material "
    "with other pupils. This referral was sent to the Prevent team, who made a referral to Channel. The "
    "children's social care front door did not screen the referral for wider safeguarding concerns because "
    "it had been sent directly to Prevent.",
    "Channel panel adopted the case. Child T's mother initially consented to support and then withdrew "
    "consent after a visit by uniformed police officers, which she said made her feel that her son was being "
    "treated as a criminal. The case was closed to Channel without a referral to children's social care.",
    "During this period Child T was referred to CAMHS by his GP with low mood and social isolation. His NHS "
    "number, 613 925 7743, appears on three separate referrals, each of which was rejected or placed on a "
    "waiting list. His consultant psychiatrist, Dr Helen Marsh, saw him once, eleven months after the first "
    "referral.",
    "3. Key practice episodes",
    "Practice episode one: the first referral. The review found that the school had concerns about Child "
    "T's online activity at the time of the first referral but did not include them, because staff were "
    "unsure whether they amounted to a safeguarding concern. Screening staff had not received training in "
    "indicators of radicalisation.",
    "Practice episode two: the decision to exclude. Child T was permanently excluded after the second "
    "referral. The exclusion removed the one setting in which he was seen daily by professionals, and "
    "increased his isolation. No agency was consulted about the decision.",
    "Practice episode three: withdrawal of consent. When Child T's mother withdrew consent to Channel support, "
    "there was no mechanism for the case to be considered by children's social care or by a police-led "
    "partnership panel. The review heard that such panels existed in the area but were not known to the "
    "Channel chair at the time.",
    "Practice episode four: information held by the police. Counter Terrorism Policing held intelligence "
    "about an adult associate of Child T who met him at the Al-Furqan Centre and online. This information was "
    "not shared with the Prevent team or children's social care because an investigation was ongoing.",
    "4. Findings",
    "Finding one: radicalisation was not recognised as a safeguarding issue at the point of first referral. "
    "Staff treated the concerns as a matter of behaviour and attendance rather than as a risk of harm to Child "
    "T. This reflects wider findings that radicalisation does not fit easily within children's social care "
    "thresholds where parenting is adequate.",
    "Finding two: the referral pathway meant that no agency held the whole picture. Because the second "
    "referral went directly to Prevent, children's social care did not screen it, and Channel did not refer "
    "back when the case closed.",
    "Finding three: information sharing between the police and other agencies was limited by an ongoing "
    "investigation, and there was no designated point of contact through whom information could have been "
    "shared on a need-to-know basis.",
    "Finding four: engagement with the family was undermined by the manner of police involvement. A joint "
    "visit with a worker already known to the family, or with the Channel coordinator, would have been more "
    "likely to sustain consent.",
    "Finding five: Child T's underlying vulnerabilities, including social isolation, low self-esteem, "
    "exclusion from school and unmet mental health needs, were known to individual agencies but were never "
    "brought together in a single assessment.",
    "Finding six: a contextual safeguarding approach was not considered, although the grooming Child T "
    "experienced had features in common with child criminal exploitation and county lines cases known to the "
    "same agencies.",
    "5. Recommendations",
    "Recommendation one: the Partnership should ensure that all referrals to Prevent concerning children are "
    "screened by children's social care at the point of referral, and that a children's social care "
    "representative attends every Channel panel.",
    "Recommendation two: the Partnership should write radicalisation and extremism into its threshold "
    "document, aligned with the thresholds used by the police and the Prevent team.",
    "Recommendation three: the police and children's social care should agree designated points of contact "
    "for sharing information about children at risk of radicalisation during ongoing investigations.",
    "Recommendation four: schools should consult the local authority before excluding a child who is subject "
    "to a Prevent or Channel referral.",
    "Recommendation five: training for front door staff should include indicators of radicalisation, online "
    "radicalisation and the links with other forms of exploitation, and should be delivered on a multi-agency "
    "basis using local case examples.",
    "Recommendation six: radicalisation should be included in the remit of the multi-agency child "
    "exploitation arrangements, and the Partnership should report on progress to the Home Office and in its "
    "next Ofsted inspection self-assessment.",
]


# --------------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------------
def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a ZIP with fixed timestamps and member order, so output is reproducible."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(info))
    return out.getvalue()


def _new_document(title: str):  # type: ignore[no-untyped-def]
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = title
    props.subject = "SYNTHETIC — fictitious sample for testing qualcode"
    props.author = "qualcode sample generator"
    props.last_modified_by = "qualcode sample generator"
    props.created = props.modified = datetime(2021, 2, 1, 9, 0, 0)
    props.revision = 1
    return document


def _save_docx(document, path: Path) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_fixed_zip(buffer.getvalue()))


def write_docx_paragraphs(path: Path) -> None:
    document = _new_document("SYNTHETIC interview 07")
    document.add_paragraph(MARKER)
    document.add_paragraph("# Modelled on the local authority topic guide. Speaker labels at paragraph start.")
    for speaker, text in INTERVIEW_07:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{speaker}:").bold = True
        paragraph.add_run(f" {text}")
    _save_docx(document, path)


def write_docx_table(path: Path) -> None:
    document = _new_document("SYNTHETIC interview 08")
    document.add_paragraph(MARKER)
    document.add_paragraph("# Modelled on the local authority topic guide. Transcript laid out as a table.")
    table = document.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for cell, heading in zip(table.rows[0].cells, ("Time", "Speaker", "Text"), strict=True):
        cell.text = heading
    for time, speaker, text in TABLE_08:
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = time, speaker, text
    _save_docx(document, path)


# --- PDF ------------------------------------------------------------------------------------------
#: Helvetica advance widths (1/1000 em) for printable ASCII; other characters use 556.
_HELVETICA = dict(
    zip(
        (chr(c) for c in range(32, 127)),
        (
            278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
            556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778,
            722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278,
            278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
            556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
        ),
        strict=True,
    )
)


def _width(text: str, size: float) -> float:
    return sum(_HELVETICA.get(ch, 556) for ch in text) * size / 1000


def _wrap(text: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if _width(candidate, size) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def write_pdf(path: Path) -> None:
    """A minimal multi-page PDF 1.4 with a Helvetica text layer, written by hand."""
    page_w, page_h, margin = 595, 842, 64
    body, heading, leading = 10.5, 12.5, 14.5
    blocks: list[tuple[float, list[str]]] = [(9.0, [MARKER]), (heading, [SCR_TITLE])]
    for paragraph in SCR_12:
        size = heading if paragraph[:2].rstrip(".").isdigit() and len(paragraph) < 40 else body
        blocks.append((size, _wrap(paragraph, size, page_w - 2 * margin)))

    pages: list[list[bytes]] = [[]]
    y = page_h - margin
    for size, lines in blocks:
        needed = leading * len(lines)
        if y - needed < margin and pages[-1]:
            pages.append([])
            y = page_h - margin
        for line in lines:
            pages[-1].append(b"BT /F1 %.1f Tf %d %.1f Td %s Tj ET" % (size, margin, y, _pdf_string(line)))
            y -= leading
        y -= leading * 0.8  # paragraph gap
    for number, page in enumerate(pages, 1):  # a page number footer, which the reader drops
        page.append(b"BT /F1 9 Tf %d %d Td %s Tj ET" % (page_w // 2, margin // 2, _pdf_string(str(number))))

    objects: list[bytes] = []
    n_pages = len(pages)
    # 1 catalog, 2 pages, 3 font, 4 info, then (page, content) pairs
    kids = b" ".join(b"%d 0 R" % (5 + 2 * i) for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n_pages))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objects.append(
        b"<< /Title %s /Subject %s /Producer (qualcode scripts/make_samples.py) >>"
        % (_pdf_string("SYNTHETIC — " + SCR_TITLE), _pdf_string("SYNTHETIC — fictitious sample"))
    )
    for index, page in enumerate(pages):
        content = b"\n".join(page)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (page_w, page_h, 6 + 2 * index)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "sample")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    targets = {
        "site_c_social_worker_07.docx": write_docx_paragraphs,
        "site_d_strategic_lead_08.docx": write_docx_table,
        "site_a_case_review_12.pdf": write_pdf,
    }
    for name, writer in targets.items():
        writer(args.out / name)
        print(f"wrote {args.out / name} ({(args.out / name).stat().st_size / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
