"""The pieces under the catalog planner: words, misspellings, matches and extracted values."""

from __future__ import annotations

import pytest

from chiffon.catalog import Catalog
from chiffon.catalog.matching import Vocabulary, edit_distance, root, singular, tokenize
from chiffon.planning.extraction import Extractor


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("grafana", "grafana", 0),
        ("grafna", "grafana", 1),
        ("ngnix", "nginx", 1),  # a transposition is one edit
        ("promethues", "prometheus", 1),
        ("kitten", "sitting", 3),
    ],
)
def test_edit_distance_counts_insertions_deletions_substitutions_and_swaps(
    a: str, b: str, distance: int
) -> None:
    assert edit_distance(a, b, 5) == distance


def test_edit_distance_stops_early_past_its_limit() -> None:
    assert edit_distance("grafana", "homeassistant", 2) == 3
    assert edit_distance("kitten", "sitting", 1) == 2


@pytest.mark.parametrize(
    ("word", "one"),
    [("monitors", "monitor"), ("proxies", "proxy"), ("status", "status"), ("dns", "dns"),
     ("prometheus", "prometheus"), ("hass", "hass")],
)  # fmt: skip
def test_singular_strips_plurals_but_not_words_ending_in_s(word: str, one: str) -> None:
    assert singular(word) == one


def test_root_joins_a_word_family() -> None:
    assert {root(w) for w in ("block", "blocker", "blocking", "blocks")} == {"block"}
    assert root("scrape") == root("scraping")


def test_tokens_keep_their_offsets_in_the_text() -> None:
    text = "Deploy Pi-hole!"
    assert [(t.text, text[t.start : t.end]) for t in tokenize(text)] == [
        ("deploy", "Deploy"),
        ("pi", "Pi"),
        ("hole", "hole"),
    ]


def hits(catalog: Catalog, text: str) -> list[tuple[str, str, str]]:
    tokens = tokenize(text)
    found = Vocabulary(catalog).hits(tokens, text, 0, len(tokens))
    return sorted((h.entry, h.words, h.kind) for h in found)


def test_a_longer_match_wins_over_the_words_inside_it(homelab_catalog: Catalog) -> None:
    assert hits(homelab_catalog, "uptime kuma monitors") == [
        ("uptime-kuma-monitors", "uptime kuma monitors", "exact")
    ]


def test_words_go_to_the_entry_that_names_them_rather_than_tags_them(
    homelab_catalog: Catalog,
) -> None:
    assert hits(homelab_catalog, "uptime") == [("uptime-kuma", "uptime", "exact")]


def test_a_tag_shared_by_several_entries_matches_them_all(homelab_catalog: Catalog) -> None:
    assert [e for e, _, _ in hits(homelab_catalog, "dashboards and metrics")] == [
        "grafana",
        "grafana",
        "node-exporter",
        "prometheus",
    ]


def test_spellings_of_one_name_all_match_it(homelab_catalog: Catalog) -> None:
    for text in ("pihole", "pi-hole", "Pi Hole", "pi holes"):
        assert [e for e, _, _ in hits(homelab_catalog, text)] == ["pihole"], text


def test_a_multi_word_synonym_matches_in_another_order_and_form(homelab_catalog: Catalog) -> None:
    assert hits(homelab_catalog, "block ads") == [("pihole", "block ads", "loose")]


def test_short_words_are_never_taken_for_misspellings(homelab_catalog: Catalog) -> None:
    assert hits(homelab_catalog, "kumo") == []
    assert hits(homelab_catalog, "grafan") == [("grafana", "grafan", "typo")]


def test_filler_words_include_misspelled_verbs(homelab_catalog: Catalog) -> None:
    vocabulary = Vocabulary(homelab_catalog)
    assert vocabulary.is_filler("instal")
    assert vocabulary.is_filler("deploy")
    assert not vocabulary.is_filler("grafana")
    assert not vocabulary.is_filler("minecraft")


def test_host_mentions_name_inventory_hosts_and_groups(homelab_catalog: Catalog) -> None:
    extractor = Extractor(homelab_catalog)
    found = [(m.text, m.targets) for m in extractor.hosts("on core and hass, then to the pi")]
    assert found == [("on core and hass", ("core", "hass")), ("to the pi", ("pi",))]
    assert [m.targets for m in extractor.hosts("deploy to the homelab")] == [()]
    assert [m.targets for m in extractor.hosts("install it everywhere")] == [("all",)]
    assert extractor.hosts("add pi-hole to the existing portals") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on port 3002", 3002),
        ("keep 14 daily backups", 14),
        ("retention 30d", "30d"),
        ("keep metrics for 2 weeks", "2w"),
        ("image grafana/grafana-oss:11.4.0", "grafana/grafana-oss:11.4.0"),
        ("timezone Europe/Paris", "Europe/Paris"),
        ("in America/New_York", "America/New_York"),
        ("every 30 seconds", 30),
        ("every 5 minutes", 300),
        ("every minute", 60),
        ("with 3 retries", 3),
        ("at 4:15", "04:15"),
        ("at 11pm", "23:00"),
        ("version 1.9.0", "1.9.0"),
        ("upstream dns 1.1.1.1, 8.8.8.8", ["1.1.1.1", "8.8.8.8"]),
        ("kuma_port=3005", "3005"),
    ],
)
def test_values_are_read_from_their_usual_phrasings(
    homelab_catalog: Catalog, text: str, value: object
) -> None:
    (mention,) = Extractor(homelab_catalog).values(text, [])
    assert mention.value == value


def test_an_image_names_the_entry_it_belongs_to(homelab_catalog: Catalog) -> None:
    (mention,) = Extractor(homelab_catalog).values("use grafana/grafana-oss:11.4.0", [])
    assert mention.implies == ("grafana",)


def test_a_secret_value_is_labelled_by_its_variable_never_by_its_text(
    homelab_catalog: Catalog,
) -> None:
    (mention,) = Extractor(homelab_catalog).values("restic_password=s3cret", [])
    assert mention.value == "s3cret"
    assert "s3cret" not in mention.label
