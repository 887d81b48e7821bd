"""No network at any point: the anonymiser (spaCy, Presidio, tldextract) runs with sockets disabled."""

from __future__ import annotations

import socket

import pytest
import tldextract.tldextract as tld_module

from pipeline.anonymise import build_anonymiser
from pipeline.anonymise.offline import make_tldextract_offline, offline_tld_extractor
from pipeline.settings import Settings


def test_sockets_are_really_disabled(no_network: None) -> None:
    with pytest.raises(OSError, match="forbidden"):
        socket.getaddrinfo("publicsuffix.org", 443)


def test_anonymiser_runs_without_network(no_network: None) -> None:
    # Fresh extractor: its suffix list must come from the bundled snapshot, not a download.
    offline_tld_extractor.cache_clear()
    make_tldextract_offline()
    assert tld_module.TLD_EXTRACTOR is offline_tld_extractor()
    assert offline_tld_extractor().suffix_list_urls == ()
    anon = build_anonymiser(Settings())
    res = anon.anonymise("Email l.patel@kirkfield.example.co.uk or see https://example-patriots.net/videos, Kyle.")
    assert {s.entity for s in res.spans} >= {"EMAIL", "URL", "PERSON"}
    assert tld_module.extract("someone@example.co.uk").suffix == "co.uk"
