"""`aftersale flows`: ready flows installed in one step, a store's own definition, and
clear errors naming the bad field."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aftersale.flows.models import Flow, FlowStatus
from aftersale.messaging.models import EmailTemplate
from aftersale.stores.models import Store


def _flows(*args: str) -> str:
    out = StringIO()
    call_command("flows", *args, stdout=out)
    return out.getvalue()


def test_a_ready_flow_and_its_templates_install_in_one_command(store: Store) -> None:
    assert "win-back" in _flows("list")  # offered before it is installed

    assert "Installed win-back (live, version 1)" in _flows("install", "win-back")

    flow = Flow.objects.get(store=store, slug="win-back")
    assert flow.status == FlowStatus.LIVE
    assert EmailTemplate.objects.filter(store=store, slug="win-back").exists()
    listing = _flows("list")
    assert listing.startswith("win-back") and "ready to install" in listing
    assert "win-back," not in listing.split("ready to install:")[1]


def test_installing_an_edited_definition_makes_a_new_version(store: Store, tmp_path: Path) -> None:
    _flows("install", "review-request", "--draft")
    edited = json.loads((Path(__file__).parents[1] / "library" / "review-request.json").read_text())
    edited["name"] = "Review request, sooner"
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(edited))

    assert "version 2" in _flows("install", "review-request", "--file", str(path))
    assert Flow.objects.get(store=store, slug="review-request").name == "Review request, sooner"


def test_a_bad_definition_is_refused_naming_the_field(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps({"name": "Broken", "trigger": {"event": "first_purchase"}}))
    with pytest.raises(CommandError, match="steps"):
        _flows("install", "broken", "--file", str(path))
    with pytest.raises(CommandError, match="no ready flow 'nope'"):
        _flows("install", "nope")
    assert not Flow.objects.filter(store=store).exists()
