"""The holdout share in the flow builder: shown with the flow's value, saved as typed,
refused next to its field when out of bounds."""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings

from aftersale.dashboard.flow_form import data_to_definition, definition_to_data
from aftersale.dashboard.tests.test_builder import UPSELL, _edit_url, _form, _post, _text
from aftersale.flows.definition import parse_definition
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.flows.services import set_up_library_flow
from aftersale.flows.tests.helpers import upsell_definition
from aftersale.lib import clock
from aftersale.stores.models import Store


def test_the_holdout_share_goes_from_definition_to_form_and_back():
    for percent in (0, 10, 35):
        parsed = parse_definition({**upsell_definition(), "holdout_percent": percent})
        data = definition_to_data(parsed.model_dump(mode="json", by_alias=True))
        assert data["holdout_percent"] == [str(percent)]
        assert parse_definition(data_to_definition(data).definition).holdout_percent == percent


def test_the_builder_shows_saves_and_bounds_the_holdout_share(
    client: Client, merchant: User, store: Store, settings: Settings
) -> None:
    settings.FLOW_HOLDOUT_PERCENT = 10  # an installation's default, as the flow is set up
    client.force_login(merchant)
    flow = set_up_library_flow(store=store, ready=UPSELL, now=clock.now())
    page = _text(client.get(_edit_url(store)))
    assert re.search(r'id="holdout_percent"[^>]*value="10"', page)

    data = _form(flow)
    data["holdout_percent"] = ["0"]
    assert _post(client, _edit_url(store), data, action="save").status_code == 302
    assert definition_of(latest_version(flow=flow).pk).holdout_percent == 0

    data = _form(flow)
    data["holdout_percent"] = ["60"]
    refused = _post(client, _edit_url(store), data, action="save")
    assert refused.status_code == 400
    assert re.search(r'id="holdout_percent"[^>]*value="60"[^>]*aria-invalid="true"', _text(refused))
    assert 'id="holdout_percent-error"' in _text(refused)
