"""Services a request names that the catalog lacks, and what to generate for them.

The catalog planner reads a request; words it could not match to any entry are candidates:
a service of the built-in table (``chiffon.playbooks.generation.known``: "Deploy Jellyfin"),
or, for one unknown name, the image and port the request gives ("deploy whoami with image
traefik/whoami:v1.10.3 on port 8000"). Anything less is a question: which image and port.
"""

from __future__ import annotations

from collections.abc import Sequence

from chiffon.catalog import CatalogEntry, Variable
from chiffon.errors import ChiffonError
from chiffon.planning.planner import NeedsClarification
from chiffon.planning.reading import Reading
from chiffon.playbooks.generation.known import find_known
from chiffon.playbooks.generation.spec import ServiceSpec, service_spec

# An entry with one variable of each kind a request can give a new service: the extractor's
# mentions say, through it, whether they are an image or a port.
_PROBE = CatalogEntry(
    id="probe",
    playbook="probe.yml",
    description="",
    hosts="all",
    variables={"new_image": Variable(), "new_port": Variable(type="int")},
)
HOW = "say: deploy NAME with image REPOSITORY:TAG on port N"


def wanted_services(reading: Reading) -> list[ServiceSpec] | NeedsClarification | None:
    """What to generate for the words of ``reading`` the catalog did not match: the specs,
    a question when the request names a service but not enough to generate it, or None when
    the words do not look like a service to generate (the planner's own question stands)."""
    images = [str(v.value) for v, _ in reading.values if v.variable(_PROBE) == "new_image"]
    ports = [v.value for v, _ in reading.values if v.variable(_PROBE) == "new_port"]
    specs: list[ServiceSpec] = []
    unknown: list[str] = []
    for words in reading.unmatched:
        known = find_known(words)
        if len(known) > 1:
            names = " or ".join(k.name for k in known)
            return NeedsClarification(
                f'"{words}" could be {names}: which should I generate a playbook for?',
                tuple(k.name for k in known),
            )
        if known:
            specs.append(known[0].spec())
        else:
            unknown.append(words)
    if not unknown:
        return specs or None
    if not specs and reading.chosen and not images and not ports:
        return None  # "deploy grafana with extra sauce": not a service, ask as before
    return _from_request(unknown, images, ports, specs)


def _from_request(
    unknown: Sequence[str], images: Sequence[str], ports: Sequence[object], specs: list[ServiceSpec]
) -> list[ServiceSpec] | NeedsClarification:
    if len(unknown) > 1:
        listed = " and ".join(f'"{w}"' for w in unknown)
        return NeedsClarification(
            f"The catalog has no playbook for {listed}, and I do not know them: which image and "
            f"port should each be generated from? Ask for one at a time ({HOW})."
        )
    words = unknown[0]
    missing = [what for what, given in (("image", images), ("port", ports)) if len(given) != 1]
    if missing:
        which = " and ".join(missing)
        return NeedsClarification(
            f'The catalog has no playbook for "{words}", and it is not a service I know: which '
            f"{which} should I generate it from? ({HOW})"
        )
    name = "-".join(words.lower().split())
    port = ports[0]
    if isinstance(port, bool) or not isinstance(port, int):  # the extractor reads digits
        return NeedsClarification(f'Which port should "{words}" listen on? ({HOW})')
    try:
        spec = service_spec(name, image=images[0], port=port)
    except ChiffonError as exc:
        return NeedsClarification(f'I cannot generate a playbook for "{words}": {exc}.')
    return [*specs, spec]
