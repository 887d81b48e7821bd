"""Leak scan after a real ``qualcode run`` over every gold set (issue 15): does any DIRECT identifier survive
anywhere a project writes or shows?

    .venv/bin/python bench/leak_scan.py [--no-prefect] [--show-ids] [--keep DIR]

What it does, as a user would:
1. A fresh project in a temp folder (own SQLite database, key file, inbox, QUALCODE_HOME and PREFECT_HOME,
   DO_NOT_TRACK=1). Every excerpt of ``$QUALCODE_EVAL_DIR/uk_spoken/excerpts.jsonl`` (default
   ``../shared/eval``; skipped with a message when absent, never copied into the repo) and of the SYNTHETIC
   ``bench/gold/uk_interviews.jsonl`` and ``uk_interviews_heldout.jsonl`` goes into the inbox as a .txt
   (WebVTT rows as .vtt). Every third file is named ``Interview - <its first DIRECT name>.txt``: file names
   are personal data too.
2. ``qualcode run`` (Prefect, subprocess). A lead key holder (``qualcode user add``) then force-releases
   every held transcript (worst case: everything reaches coders), and ``qualcode run`` again. A coder signs
   in to the web app (TestClient), fetches the review queue, decides a sample of items (each response is a
   rendered page) and the decisions page. ``qualcode export qdpx`` and ``qualcode export csv`` (decision and
   segment level).
3. Every DIRECT gold surface is looked for (``pipeline.privacy_scan``: whole token, case-insensitive, also
   compacted; legitimately remaining words discounted) in every text/JSON column of every table (never the
   encrypted binary columns), the raw database file, every command's output, everything under the data
   folder and the Prefect home, the exports (the .qdpx unzipped) and the rendered pages.

Prints and writes (bench/results/leak_scan_<UTC time>.json) counts per place and per form only, never the
surfaces. ``--show-ids`` adds the excerpt ids of leaked surfaces (ids and forms, still no text).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.privacy_scan import (  # noqa: E402
    GoldDoc,
    GoldIndex,
    LeakReport,
    database_texts,
    docs_from_project_gold,
    docs_from_uk_spoken,
    file_texts,
    html_text,
    tree_texts,
)

EVAL_DIR = Path(os.environ.get("QUALCODE_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
UK_SPOKEN = EVAL_DIR / "uk_spoken" / "excerpts.jsonl"
GOLD = REPO / "bench" / "gold"
RESULTS = REPO / "bench" / "results"
PASSWORD = "leak-scan-Password-1"
#: Place prefixes that must hold no identifier for the scan to pass (exit code).
MUST_BE_CLEAN = ("db.", "db_file", "outputs", "prefect", "data", "exports", "pages")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_gold_sets() -> tuple[list[tuple[GoldDoc, str]], list[str]]:
    """``(doc, suffix)`` for every excerpt of every available gold set, and the names of the sets read."""
    out: list[tuple[GoldDoc, str]] = []
    sets: list[str] = []
    if UK_SPOKEN.exists():
        rows = _jsonl(UK_SPOKEN)
        out += [(d, ".vtt" if r["format"] == "webvtt" else ".txt") for d, r in zip(docs_from_uk_spoken(rows), rows,
                                                                                    strict=True)]
        sets.append("uk_spoken")
    else:
        print(f"leak_scan: uk_spoken skipped ({UK_SPOKEN} not found; set QUALCODE_EVAL_DIR or place ../shared/eval)")
    for name in ("uk_interviews", "uk_interviews_heldout"):
        rows = _jsonl(GOLD / f"{name}.jsonl")
        out += [(d, ".vtt" if r["format"] == "vtt" else ".txt") for d, r in zip(docs_from_project_gold(rows), rows,
                                                                                 strict=True)]
        sets.append(name)
    return out, sets


_NAME_FORMS = ("name", "person", "name_lower", "nickname")


def file_name(doc: GoldDoc, suffix: str, n: int, taken: set[str]) -> str:
    """Every third file is named after the first DIRECT name in it; the rest by a neutral number."""
    name = f"transcript {n:03d}{suffix}"
    if n % 3 == 0:
        for start, end, form in sorted(doc.spans):
            surface = doc.text[start:end].strip()
            if form in _NAME_FORMS and re.fullmatch(r"[\w' .-]{2,60}", surface):
                name = f"Interview - {surface}{suffix}"
                break
    while name in taken:
        name = name.replace(suffix, f" ({n}){suffix}")
    taken.add(name)
    return name


class Project:
    """A throw-away qualcode project in ``root``; commands run as subprocesses and their output is kept."""

    def __init__(self, root: Path, *, prefect: bool = True) -> None:
        self.root = root
        self.prefect = prefect
        self.inbox = root / "inbox"
        self.data = root / "data"
        self.prefect_home = root / "prefect"
        self.exports = root / "exports"
        self.db = self.data / "qualcode.db"
        self.url = f"sqlite:///{self.db}"
        for folder in (self.inbox, self.data, self.prefect_home, self.exports):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "QUALCODE_HOME": str(root),
            "QUALCODE_DATABASE_URL": self.url,
            "QUALCODE_DATA_DIR": str(self.data),
            "QUALCODE_INBOX": str(self.inbox),
            "QUALCODE_QUARANTINE_DIR": str(root / "quarantine"),
            "QUALCODE_MODELS_DIR": str(root / "models"),
            "QUALCODE_KEY_FILE": str(root / "qualcode.key"),
            "QUALCODE_CODEBOOK_PATH": str(REPO / "codebook" / "prevent_csc.yaml"),
            "QUALCODE_INGEST_SETTLE_SECONDS": "0",
            "QUALCODE_RELEASE": "review",
            "QUALCODE_LOG_LEVEL": "DEBUG",
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_LOGGING_LEVEL": "DEBUG",
            "DO_NOT_TRACK": "1",
        }
        for key in ("QUALCODE_CONFIG", "QUALCODE_KEY", "PREFECT_API_URL"):
            self.env.pop(key, None)
        #: (command label, stdout + stderr) of every command run.
        self.outputs: list[tuple[str, str]] = []

    def cli(self, label: str, *args: str, stdin: str | None = None, timeout: int = 1800) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=timeout,
        )
        self.outputs.append((label, proc.stdout + "\n" + proc.stderr))
        if proc.returncode != 0:
            # The tail of stderr may hold text; say only which command failed and its exit code.
            raise RuntimeError(f"qualcode {label} failed with exit code {proc.returncode}")
        return proc.stdout

    def run(self, label: str) -> str:
        return self.cli(label, "run", *([] if self.prefect else ["--no-prefect"]), "--json")

    def apply_env(self) -> None:
        """Point this process's settings at the project (for the library calls and the web app)."""
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("QUALCODE_", "PREFECT_", "DO_NOT"))})
        from pipeline.settings import reset_settings

        reset_settings()


def write_inbox(project: Project, docs: Iterable[tuple[GoldDoc, str]]) -> int:
    taken: set[str] = set()
    n = 0
    for n, (doc, suffix) in enumerate(docs, start=1):
        (project.inbox / file_name(doc, suffix, n, taken)).write_text(doc.text + "\n", encoding="utf-8")
    return n


def release_everything(project: Project) -> int:
    """A lead key holder force-releases every held transcript (the worst case: all of it reaches coders)."""
    project.cli("user add keeper", "user", "add", "keeper", "--role", "lead", "--key-holder", "--password-stdin",
                stdin=PASSWORD + "\n")
    listing = project.cli("anonymise held", "anonymise", "held", "--user", "keeper", "--password-stdin",
                          stdin=PASSWORD + "\n")
    ids = [int(m) for m in re.findall(r"^transcript (\d+) ", listing, re.MULTILINE)]
    if not ids:
        return 0
    # The first through the CLI (its output is scanned), the rest through the same library call.
    project.cli("anonymise release", "anonymise", "release", str(ids[0]), "--force", "--user", "keeper",
                "--password-stdin", stdin=PASSWORD + "\n")
    from pipeline.anonymise.release import release_transcript
    from pipeline.store.db import session_scope

    for transcript_id in ids[1:]:
        with session_scope(project.url, immediate=True) as session:
            release_transcript(session, transcript_id, "cli:keeper", force=True)
    return len(ids)


def render_pages(project: Project, decisions: int = 25) -> list[tuple[str, str]]:
    """A coder's pages: the queue, the next item after each of ``decisions`` decisions, and the decisions page."""
    from fastapi.testclient import TestClient

    from pipeline.settings import Settings
    from pipeline.web.app import create_app

    project.cli("user add coder", "user", "add", "coder1", "--role", "coder", "--password-stdin",
                stdin=PASSWORD + "\n")
    pages: list[tuple[str, str]] = []
    token_re = re.compile(r'name="csrf(?:-token|_token)" (?:content|value)="([^"]+)"')
    item_re = re.compile(r'data-item="(\d+)" data-kind="(\w+)"')
    version_re = re.compile(r'name="version" value="(\d+)"')
    with TestClient(create_app(Settings())) as client:
        login = client.get("/login").text
        match = token_re.search(login)
        assert match, "the log-in page carries a CSRF token"
        response = client.post("/login", data={"username": "coder1", "password": PASSWORD,
                                               "csrf_token": match.group(1), "next": "/review"},
                               follow_redirects=False)
        if response.status_code != 303:
            raise RuntimeError(f"coder log-in failed ({response.status_code})")
        html = client.get("/review").text
        pages.append(("queue", html))
        token = token_re.search(html)
        for _ in range(decisions):
            item, version = item_re.search(html), version_re.search(html)
            if not (item and version and token):
                break
            action = "accept" if item.group(2) != "blind" else "skip"
            response = client.post(f"/review/items/{item.group(1)}",
                                   data={"version": version.group(1), "action": action, "certainty": "4"},
                                   headers={"X-CSRF-Token": token.group(1), "HX-Request": "true"})
            if response.status_code != 200 or response.text == html:
                break
            html = response.text
            pages.append(("item", html))
        pages.append(("queue again", client.get("/review").text))
        pages.append(("decisions", client.get("/decisions").text))
    return pages


def export(project: Project) -> list[Path]:
    qdpx, csv, seg = project.exports / "project.qdpx", project.exports / "codings.csv", project.exports / "segments.csv"
    project.cli("export qdpx", "export", "qdpx", str(qdpx))
    project.cli("export csv", "export", "csv", str(csv))
    project.cli("export csv segment", "export", "csv", str(seg), "--level", "segment")
    return [p for p in (qdpx, csv, seg) if p.exists()]


def software_text() -> list[str]:
    """What the software itself brings (legitimate words): the codebook, the web app's templates and the
    block documentation Prefect copies into its own database."""
    texts = [(REPO / "codebook" / "prevent_csc.yaml").read_text(encoding="utf-8")]
    import prefect

    blocks = Path(prefect.__file__).parent / "server" / "collection_blocks_data.json"
    if blocks.exists():
        texts.append(blocks.read_text(encoding="utf-8"))
    texts += [p.read_text(encoding="utf-8") for p in sorted((REPO / "pipeline" / "web" / "templates").rglob("*.html"))]
    return texts


def scan_project(project: Project, index: GoldIndex, pages: list[tuple[str, str]],
                 exports: list[Path]) -> LeakReport:
    report = LeakReport(index)
    for place, text in database_texts(project.url):
        report.add(place, text)
    # The raw SQLite files: old page versions in the WAL and freed pages keep what was later overwritten.
    for path, place in ((project.db, "db_file.main"), (project.db.with_name(project.db.name + "-wal"), "db_file.wal")):
        if path.exists():
            for text, binary in file_texts(path):
                report.add(place, text, binary=binary)
    for label, text in project.outputs:
        report.add(f"outputs.{label.split()[0] if label.startswith(('user', 'key')) else label}", text)
    for _path, text, binary in tree_texts(project.prefect_home):
        report.add("prefect", text, binary=binary)
    skip = [project.db, project.db.with_name(project.db.name + "-wal"), project.db.with_name(project.db.name + "-shm")]
    for _path, text, binary in tree_texts(project.data, skip=skip):
        report.add("data", text, binary=binary)
    for path in (project.root / "models", project.root / "quarantine"):
        for _p, text, binary in tree_texts(path):
            report.add(f"data.{path.name}", text, binary=binary)
    for path in exports:
        for text, binary in file_texts(path):
            report.add(f"exports.{path.suffix.lstrip('.')}", text, binary=binary)
    for label, page in pages:
        report.add("pages", f"{label}\n{html_text(page)}")
    return report


def run_leak_scan(docs: list[tuple[GoldDoc, str]], root: Path, *, prefect: bool = True,
                  decisions: int = 25) -> dict[str, object]:
    """The whole scan in ``root``: build, run, release, run, review pages, export, scan. Returns counts.

    This process's environment points at the project while it runs and is restored afterwards."""
    saved = dict(os.environ)
    try:
        return _run_leak_scan(docs, root, prefect=prefect, decisions=decisions)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from pipeline.settings import reset_settings

        reset_settings()


def _run_leak_scan(docs: list[tuple[GoldDoc, str]], root: Path, *, prefect: bool, decisions: int) -> dict[str, object]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    project = Project(root, prefect=prefect)
    project.apply_env()
    project.cli("key init", "key", "init")
    files = write_inbox(project, docs)
    first = _summary(project.run("run 1"))
    timings["run_1"] = time.perf_counter() - started
    released = release_everything(project)
    second = _summary(project.run("run 2"))
    timings["run_2"] = time.perf_counter() - started
    pages = render_pages(project, decisions=decisions)
    exports = export(project)
    timings["exports"] = time.perf_counter() - started
    quarantined = sorted(p.name for p in (root / "quarantine").glob("*")) if (root / "quarantine").exists() else []
    index = GoldIndex([doc for doc, _suffix in docs], background=software_text())
    report = scan_project(project, index, pages, exports)
    timings["scan"] = time.perf_counter() - started
    from sqlalchemy import func, select

    from pipeline.store.db import session_scope
    from pipeline.store.models import Transcript

    with session_scope(project.url) as session:
        statuses = dict(Counter(session.scalars(select(Transcript.status)).all()))
        transcripts = int(session.scalar(select(func.count()).select_from(Transcript)) or 0)
    return {
        "files": files,
        "transcripts": transcripts,
        "statuses": statuses,
        "quarantined": len(quarantined),
        "held_released": released,
        "run_1": _counts_only(first),
        "run_2": _counts_only(second),
        "pages": len(pages),
        "exports": [p.name for p in exports],
        "direct_spans": index.span_count,
        "direct_surfaces": len(index.surfaces),
        "report": report,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def _summary(stdout: str) -> object:
    start = stdout.find("{")
    try:
        return json.loads(stdout[start:]) if start >= 0 else {}
    except ValueError:
        return {}


def _counts_only(summary: object) -> object:
    """The run's JSON summary without any string values (file names would be personal data)."""
    if isinstance(summary, dict):
        return {k: _counts_only(v) for k, v in summary.items() if not isinstance(v, str)}
    if isinstance(summary, list):
        return [_counts_only(v) for v in summary if not isinstance(v, str)]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-prefect", action="store_true", help="qualcode run --no-prefect (faster, less real)")
    parser.add_argument("--show-ids", action="store_true", help="print excerpt ids + forms of leaked surfaces")
    parser.add_argument("--decisions", type=int, default=25, help="review decisions made in the web app")
    parser.add_argument("--keep", type=Path, default=None, help="build the project here and keep it")
    args = parser.parse_args()
    docs, sets = load_gold_sets()
    with tempfile.TemporaryDirectory(prefix="qualcode-leak-") as tmp:
        root = args.keep.resolve() if args.keep else Path(tmp)
        result = run_leak_scan(docs, root, prefect=not args.no_prefect, decisions=args.decisions)
    report: LeakReport = result.pop("report")  # type: ignore[assignment]
    places = report.as_dict(with_ids=False)
    total = sum(int(p["surfaces_found"]) for p in places.values())  # type: ignore[call-overload]
    print(f"leak scan over {', '.join(sets)}: {result['files']} files, {result['direct_spans']} DIRECT spans "
          f"({result['direct_surfaces']} distinct surfaces); transcripts {result['statuses']}, "
          f"{result['held_released']} held then force-released, {result['quarantined']} quarantined, "
          f"{result['pages']} pages rendered, exports {', '.join(result['exports'])}")  # type: ignore[arg-type]
    print(f"{'place':<28}{'scanned':>8}{'surfaces':>10}{'ordinary':>9}{'occurr.':>9}   by form (distinct surfaces)")
    for place, row in places.items():
        forms = ", ".join(f"{f} {n}" for f, n in row["surfaces_by_form"].items()) or "-"  # type: ignore[union-attr]
        print(f"{place:<28}{row['haystacks']:>8}{row['surfaces_found']:>10}{row['of_which_ordinary_words']:>9}"
              f"{row['occurrences']:>9}   {forms}")
    print("(surfaces: distinct DIRECT gold strings found; ordinary: of which the string is also an ordinary word "
          "outside the gold spans of the originals, so a hit there may be that word in a new context)")
    print(f"total: {total} (place, surface) hits; seconds {result['seconds']}")
    if args.show_ids:
        for place, row in report.as_dict(with_ids=True).items():
            for hit in row.get("excerpts", []):  # type: ignore[union-attr]
                print(f"    {place}: {hit['form']} in {hit['id']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"leak_scan_{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps({
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sets": sets,
        "prefect": not args.no_prefect,
        **result,
        "total_hits": total,
        "places": places,
    }, indent=2), encoding="utf-8")
    print(f"written {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
