"""A service spec: every argument checked, with an error that names the problem; names,
variables and secrets derived from it; the default target chosen from the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from chiffon.catalog import load_catalog
from chiffon.playbooks.generation.errors import (
    InvalidEnv,
    InvalidImage,
    InvalidServiceName,
    InvalidVolume,
    PortOutOfRange,
    UnknownTarget,
)
from chiffon.playbooks.generation.spec import (
    Volume,
    default_target,
    looks_secret,
    parse_volume,
    service_spec,
)

IMAGE = "traefik/whoami:v1.10.3"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "it is empty"),
        ("Jellyfin", "use lowercase letters"),
        ("1password", "it must start with a letter"),
        ("my_app", "use letters, digits and single dashes"),
        ("my-app-", "use letters, digits and single dashes"),
        ("my--app", "use letters, digits and single dashes"),
        ("x", "it must be at least 2 characters"),
        ("a" * 41, "it is longer than 40 characters"),
    ],
)
def test_a_bad_service_name_is_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidServiceName, match=f'service name "{name}" is invalid: {reason}'):
        service_spec(name, image=IMAGE, port=8000)


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("traefik/whoami", "has no tag: pin a version, e.g. traefik/whoami:1.2.3"),
        ("traefik/whoami:latest", "is on the latest tag: pin a version"),
        ("Traefik/Whoami:v1", "is not a container image reference"),
        ("whoami v1", "is not a container image reference"),
        ("{{ lookup('pipe', 'id') }}:1", "is not a container image reference"),
    ],
)
def test_an_image_that_is_not_pinned_or_not_an_image_is_refused(image: str, reason: str) -> None:
    with pytest.raises(InvalidImage) as caught:
        service_spec("whoami", image=image, port=8000)
    assert f'image "{image}" {reason}' in str(caught.value)


def test_images_pinned_by_tag_or_digest_from_any_registry_are_accepted() -> None:
    for image in (
        "jellyfin/jellyfin:10.10.3",
        "ghcr.io/gethomepage/homepage:v0.9.13",
        "localhost:5000/team/app:2024.11.1",
        "nginx@sha256:" + "a" * 64,
    ):
        assert service_spec("app", image=image, port=80).image == image


@pytest.mark.parametrize(
    ("port", "container"), [(0, None), (65536, None), (8080, 0), (8080, 70000)]
)
def test_a_port_out_of_range_is_refused(port: int, container: int | None) -> None:
    with pytest.raises(PortOutOfRange, match=r"is out of range: a port is between 1 and 65535"):
        service_spec("whoami", image=IMAGE, port=port, container_port=container)


@pytest.mark.parametrize(
    ("volume", "reason"),
    [
        ("data", "write HOST:CONTAINER or HOST:CONTAINER:ro"),
        ("data:/a:/b:ro", "write HOST:CONTAINER or HOST:CONTAINER:ro"),
        ("data:/data:rx", "the mode must be ro or rw"),
        ("data:relative", 'the container path "relative" must be absolute'),
        ("../up:/data", "the host path may not contain . or .."),
        ("~/data:/data", "the host path must be relative or absolute, not under ~"),
        ("my data:/data", "the host path may hold letters, digits"),
        (":/data", "the host path is empty"),
        ("/:/host", "the host path cannot be the root directory"),
    ],
)
def test_a_bad_volume_is_refused_with_the_reason(volume: str, reason: str) -> None:
    with pytest.raises(InvalidVolume, match=f'volume "{volume}" is invalid: {reason}'):
        service_spec("whoami", image=IMAGE, port=8000, volumes=[volume])


def test_a_container_path_mounted_twice_is_refused() -> None:
    with pytest.raises(InvalidVolume, match="/data is mounted twice"):
        service_spec("whoami", image=IMAGE, port=8000, volumes=["a:/data", "b:/data/"])


def test_volumes_are_read_relative_under_the_service_or_absolute_with_their_mode() -> None:
    assert parse_volume("./config/:/config") == Volume("config", "/config", "rw")
    assert parse_volume("/srv/media:/media:ro") == Volume("/srv/media", "/media", "ro")
    assert not parse_volume("/srv/media:/media").relative


@pytest.mark.parametrize(
    ("env", "shown", "reason"),
    [
        ("NOVALUE", "NOVALUE", "write KEY=VALUE"),
        ("1KEY=x", "1KEY=x", "the key must be letters, digits and _"),
        ("MY-KEY=x", "MY-KEY=x", "the key must be letters, digits and _"),
        ("GREETING={{ lookup('env', 'HOME') }}", "GREETING={{", "may not contain template markers"),
        ("MOTD=two\nlines", "MOTD=two", "the value must be one line"),
    ],
)
def test_a_bad_environment_variable_is_refused_with_the_reason(
    env: str, shown: str, reason: str
) -> None:
    with pytest.raises(InvalidEnv, match=reason) as caught:
        service_spec("whoami", image=IMAGE, port=8000, env=[env])
    assert f'environment variable "{shown}' in str(caught.value)


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(InvalidEnv, match="TZ is given twice"):
        service_spec("whoami", image=IMAGE, port=8000, env=["TZ=UTC", "TZ=Europe/Paris"])


def test_a_refused_secret_value_never_appears_in_the_error() -> None:
    with pytest.raises(InvalidEnv) as caught:
        service_spec("whoami", image=IMAGE, port=8000, env=["DB_PASSWORD=hunter2\n"])
    assert "hunter2" not in str(caught.value)
    assert 'environment variable "DB_PASSWORD=***" is invalid' in str(caught.value)


def test_secrets_are_found_by_their_key_or_a_token_like_value() -> None:
    for key in ("ADMIN_TOKEN", "DB_PASSWORD", "SECRET_KEY", "API_KEY", "PASSWD", "SMTP_PASS"):
        assert looks_secret(key, "x"), key
    assert looks_secret("SESSION", "aB3dE5gH7jK9mN1pQ3sT5vX7")
    for key, value in (("TZ", "Europe/Paris"), ("KEYBOARD", "fr"), ("PUID", "1000"),
                       ("DOMAIN", "https://vault.home.arpa"), ("CRON_MIN", "*/20")):  # fmt: skip
        assert not looks_secret(key, value), key


def test_names_and_variables_derive_from_the_service_and_secrets_are_marked() -> None:
    spec = service_spec(
        "my-notes", image=IMAGE, port=8080, container_port=80,
        env=["TZ=Etc/UTC", "ADMIN_TOKEN=s3cret", "PORT=80"],
    )  # fmt: skip
    assert (spec.role, spec.title, spec.synonyms) == ("my_notes", "My Notes", ("my notes",))
    variables = spec.variables()
    assert list(variables) == [
        "my_notes_port", "my_notes_image", "my_notes_tz", "my_notes_admin_token",
        "my_notes_env_port",
    ]  # fmt: skip
    assert (variables["my_notes_port"].type, variables["my_notes_port"].default) == ("int", 8080)
    assert variables["my_notes_image"].default == IMAGE
    assert variables["my_notes_admin_token"].secret
    assert not variables["my_notes_tz"].secret
    assert spec.secret_keys == ("ADMIN_TOKEN",)
    assert spec.risk == "medium"
    assert spec.tags[0] == "generated"


def test_the_default_target_is_the_given_one_a_preferred_group_or_where_most_entries_run() -> None:
    catalog = load_catalog(Path(__file__).resolve().parents[3] / "examples" / "homelab")
    assert default_target(service_spec("ab", image=IMAGE, port=1, hosts="pi"), catalog) == "pi"
    preferred = service_spec("ab", image=IMAGE, port=1, prefer_hosts=["media", "storage"])
    assert default_target(preferred, catalog) == "storage"
    assert default_target(service_spec("ab", image=IMAGE, port=1), catalog) == "monitoring"
    with pytest.raises(UnknownTarget, match='hosts "kitchen" is not a group or host'):
        default_target(service_spec("ab", image=IMAGE, port=1, hosts="kitchen"), catalog)
