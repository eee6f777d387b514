"""The flow builder through Django's test client: the form posts a whole definition as
cards; saves as a draft, sets live, pauses; editing a live flow makes a version while
journeys in flight stay on theirs; a failed or stale save keeps everything typed."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from aftersale.dashboard.flow_form import FormData, definition_to_data
from aftersale.dashboard.tests.test_flow_form import BRANCHING
from aftersale.flows.models import Enrollment, Flow, FlowStatus
from aftersale.flows.selectors import flow_by_slug, latest_version
from aftersale.flows.services import create_flow, revise_flow, set_up_library_flow
from aftersale.flows.tests.helpers import place_order
from aftersale.lib import clock
from aftersale.stores.models import Store

UPSELL = "post-purchase-upsell"
T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def signed_in(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


@pytest.fixture
def upsell(store: Store) -> Flow:
    """The post-purchase upsell set up as a draft, as the Automations page does."""
    return set_up_library_flow(store=store, ready=UPSELL, now=clock.now())


def _edit_url(store: Store, slug: str = UPSELL) -> str:
    return reverse("dashboard:flow-edit", args=[store.slug, slug])


def _form(flow: Flow) -> FormData:
    """What the builder's form posts for the flow as stored, unchanged."""
    version = latest_version(flow=flow)
    data = definition_to_data(version.definition)
    data["version"] = [str(version.number)]
    data["coupon-pick"] = ["custom"]
    return data


def _post(client: Client, url: str, data: FormData, **extra: str) -> Any:
    return client.post(url, {**data, **{k: [v] for k, v in extra.items()}})


def _text(answer: Any) -> str:
    return answer.content.decode()


def test_a_new_flow_is_saved_as_a_draft_with_a_custom_coupon(
    signed_in: Client, store: Store
) -> None:
    data = definition_to_data(
        {
            "name": "Thanks",
            "trigger": {"event": "first_purchase"},
            "steps": [{"type": "delay", "days": 1}, {"type": "email", "template": "thank-you"}],
        }
    )
    data.update(
        {
            "coupon-pick": ["custom"],
            "coupon-kind": ["fixed"],
            "coupon-amount": ["7.50"],
            "coupon-minimum_order": ["30"],
            "coupon-valid_days": ["10"],
            "coupon-code_prefix": ["HELLO"],
            "steps-0-coupon": ["issue"],
        }
    )

    answer = _post(signed_in, reverse("dashboard:flow-new", args=[store.slug]), data)

    assert answer.status_code == 302
    flow = Flow.objects.get(store=store, slug="thanks")
    assert flow.status == FlowStatus.DRAFT
    coupon = latest_version(flow=flow).definition["coupon"]
    assert (coupon["kind"], coupon["amount"], coupon["minimum_order"], coupon["valid_days"]) == (
        "fixed",
        "7.50",
        "30",
        10,
    )
    program = store.coupon_programs.get(slug="thanks")
    assert (program.kind, str(program.amount), program.code_prefix) == ("fixed", "7.50", "HELLO")
    page = _text(signed_in.get(answer["Location"]))
    assert "Created as a draft (version 1)." in page


def test_a_picked_suggestion_fills_the_coupon_of_the_flow(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    data = _form(upsell)
    data["coupon-pick"] = ["free-shipping-50"]

    _post(signed_in, _edit_url(store), data, action="save")

    coupon = latest_version(flow=upsell).definition["coupon"]
    assert (coupon["kind"], coupon["minimum_order"]) == ("free_shipping", "50")


def test_the_builder_shows_the_ready_flows_coupon_first_and_timing_under_every_card(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    page = _text(signed_in.get(_edit_url(store)))

    assert page.index("Discount coupon") < page.index("Trigger") < page.index("Message")
    assert re.search(r'value="ready" checked> 15 % off, valid 14 days', page)
    timings = re.findall(r'class="timing" id="timing-\d+">([^<]*)<', page)
    assert timings == [
        "Sent 2 hours after the first purchase",
        "Sent 3 days 2 hours after the first purchase",
        "Sent 7 days 2 hours after the first purchase",
    ]
    assert 'name="steps-1-delay-days"' in page and 'name="steps-2-template"' in page


def test_a_refused_save_says_each_problem_next_to_its_field_and_keeps_what_was_typed(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    data = _form(upsell)
    data["steps-1-delay-days"] = ["three"]
    data["steps-2-template"] = [""]
    data["name"] = ["My renamed upsell"]
    data["trigger-reentry-mode"] = ["every"]
    data["trigger-reentry-days"] = ["0"]

    answer = _post(signed_in, _edit_url(store), data, action="save")

    assert answer.status_code == 400
    page = _text(answer)
    assert re.search(r'id="steps-1-delay-days"[^>]*value="three"[^>]*aria-invalid="true"', page)
    assert 'id="steps-1-delay-days-error">Type a number, such as 3' in page
    assert 'id="steps-2-template-error">Choose the template this message sends' in page
    assert 'id="trigger-reentry-error">reentry mode `every` needs `days`' in page
    assert 'value="My renamed upsell"' in page
    assert "Not saved: 3 things to fix." in page
    assert upsell.versions.count() == 1


def test_set_live_saves_and_sets_the_flow_live_then_pause_pauses_it(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    live = _post(signed_in, _edit_url(store), _form(upsell), action="live")

    assert live.status_code == 302
    upsell.refresh_from_db()
    assert upsell.status == FlowStatus.LIVE and upsell.versions.count() == 1
    assert "The flow is live" in _text(signed_in.get(live["Location"]))

    _post(signed_in, _edit_url(store), _form(upsell), action="pause")

    upsell.refresh_from_db()
    assert upsell.status == FlowStatus.PAUSED


def test_editing_a_live_flow_makes_version_2_while_journeys_in_flight_stay_on_version_1(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    _post(signed_in, _edit_url(store), _form(upsell), action="live")
    order = place_order(store, order_id="1", customer="ada", at=T0)
    Enrollment.objects.create(
        store=store,
        flow=upsell,
        version=latest_version(flow=upsell),
        customer=order.customer,
        trigger_order=order,
        entered_at=T0,
        due_at=T0,
    )
    page = _text(signed_in.get(_edit_url(store)))
    assert "1 journey in flight on version 1" in page
    assert "Saving makes version 2: journeys in flight finish on version 1" in page
    data = _form(upsell)
    data["steps-1-delay-days"] = ["5"]

    saved = _post(signed_in, _edit_url(store), data, action="save")

    assert latest_version(flow=upsell).number == 2
    assert latest_version(flow=upsell).definition["steps"][2]["days"] == 5
    upsell.refresh_from_db()
    assert upsell.status == FlowStatus.LIVE
    assert Enrollment.objects.get().version.number == 1
    message = _text(signed_in.get(saved["Location"]))
    assert "Saved as version 2. Journeys in flight (1 on version 1) finish on their version" in (
        message
    )


def test_a_save_on_top_of_a_newer_version_is_refused_keeping_what_was_typed(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    mine = _form(upsell)  # opened on version 1
    other_tab = latest_version(flow=upsell).definition
    revise_flow(flow=upsell, definition={**other_tab, "name": "Theirs"}, now=clock.now())
    mine["name"] = ["Mine"]

    refused = _post(signed_in, _edit_url(store), mine, action="save")

    assert refused.status_code == 409
    page = _text(refused)
    assert "this flow changed while you were editing it" in page
    assert "You started from version 1; version 2 was saved since" in page
    assert 'value="Mine"' in page
    assert latest_version(flow=upsell).definition["name"] == "Theirs"

    anyway = _post(signed_in, _edit_url(store), mine, action="save", based_on_latest="2")

    assert anyway.status_code == 302
    assert latest_version(flow=upsell).number == 3
    assert latest_version(flow=upsell).definition["name"] == "Mine"


def test_card_buttons_add_move_and_remove_cards_keeping_what_was_typed_and_saving_nothing(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    data = _form(upsell)
    data["steps-0-template"] = ["typed"]

    added = _post(signed_in, _edit_url(store), data, op="add-split")

    assert added.status_code == 200
    page = _text(added)
    assert 'name="steps-count" value="4"' in page
    assert 'name="steps-3-type" value="split"' in page
    assert "typed (no such template yet)" in page
    moved = _post(signed_in, _edit_url(store), data, op="down-0")
    assert re.search(r'id="steps-1-template"[^>]*>.*?value="typed" selected', _text(moved), re.S)
    removed = _post(signed_in, _edit_url(store), data, op="remove-1")
    assert 'name="steps-count" value="2"' in _text(removed)
    assert upsell.versions.count() == 1


def test_the_timing_refresh_answers_only_the_timing_lines_for_htmx_to_swap_in(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    data = _form(upsell)
    data["steps-1-delay-days"] = ["1"]
    data["steps-1-delay-hours"] = ["6"]

    answer = _post(signed_in, _edit_url(store), data, refresh="timing")

    page = _text(answer)
    assert "<form" not in page
    assert 'id="timing-1" hx-swap-oob="true">Sent 1 day 8 hours after the first purchase' in page
    assert 'id="qualifying" hx-swap-oob="true"' in page


def test_the_json_view_saves_what_cards_cannot_show_and_refuses_bad_json_keeping_it(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    definition = latest_version(flow=upsell).definition
    bad = _post(signed_in, _edit_url(store), _form(upsell), action="json", **{
        "definition-json": '{"name": "x", '
    })  # fmt: skip
    assert bad.status_code == 400
    assert "Not JSON: Expecting property name" in _text(bad)
    assert "{&quot;name&quot;: &quot;x&quot;, " in _text(bad)
    invalid = _post(signed_in, _edit_url(store), _form(upsell), action="json", **{
        "definition-json": json.dumps({**definition, "steps": []})
    })  # fmt: skip
    assert "steps: Tuple should have at least 1 item" in _text(invalid)

    changed = {**definition, "guards": {**definition["guards"], "smart_sending_hours": 3}}
    saved = _post(signed_in, _edit_url(store), _form(upsell), action="json", **{
        "definition-json": json.dumps(changed)
    })  # fmt: skip

    assert saved.status_code == 302
    assert latest_version(flow=upsell).definition["guards"]["smart_sending_hours"] == 3


def test_the_trigger_card_counts_who_qualifies_today_with_a_masked_preview(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    place_order(store, order_id="1", customer="ada", at=T0)
    place_order(store, order_id="2", customer="bob", at=T0)
    place_order(store, order_id="3", customer="bob", at=T0.replace(day=5))

    page = _text(signed_in.get(_edit_url(store)))

    assert re.search(r'big-number">1</strong> customer qualifies today', page)
    assert "a••@example.com" in page and "bob@" not in page
    assert "2024-03-04" in page


def test_another_merchants_flow_is_404(signed_in: Client, store: Store, upsell: Flow) -> None:
    assert signed_in.get(_edit_url(store, "no-such-flow")).status_code == 404
    assert flow_by_slug(store=store, slug=UPSELL) is not None


def test_a_jump_to_an_unknown_step_is_said_on_the_card_that_jumps(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    data = _form(upsell)
    data["steps-1-next"] = ["nowhere"]

    answer = _post(signed_in, _edit_url(store), data, action="save")

    assert answer.status_code == 400
    card = _text(answer).split('id="card-1"')[1].split('id="card-2"')[0]
    assert "jumps to unknown step id &#x27;nowhere&#x27;" in card
    assert 'value="nowhere"' in card


def test_a_new_flow_under_a_short_name_in_use_is_refused_at_that_field_with_a_free_one(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    data = _form(upsell)
    data["slug"] = [UPSELL]

    answer = _post(signed_in, reverse("dashboard:flow-new", args=[store.slug]), data)

    assert answer.status_code == 400
    assert re.search(
        r'id="slug-error">You have a flow “post-purchase-upsell” already: .*'
        r"“post-purchase-upsell-2”",
        _text(answer),
    )
    assert Flow.objects.count() == 1


class _FormFields(HTMLParser):
    """What a browser posts for form#builder as rendered, without pressing a button."""

    def __init__(self) -> None:
        super().__init__()
        self.data: FormData = {}
        self._inside = False
        self._select: str | None = None
        self._selected = ""
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "builder":
            self._inside = True
        if not self._inside or ("name" not in a and tag != "option"):
            return
        if tag == "input" and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(a["name"], []).append(a.get("value", "on"))
        elif tag == "select":
            self._select, self._selected, self._first_option = a["name"], "", None
        elif tag == "option" and self._select is not None:
            self._first_option = a["value"] if self._first_option is None else self._first_option
            if "selected" in a:
                self._selected = a["value"]
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        elif tag == "select" and self._select is not None:
            self.data[self._select] = [self._selected or self._first_option or ""]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.data[self._textarea] = [self._text.removeprefix("\n")]
            self._textarea = None


def _rendered_form(page: str) -> FormData:
    parser = _FormFields()
    parser.feed(page)
    return parser.data


def test_a_flow_of_every_card_kind_posted_back_as_rendered_is_unchanged(
    signed_in: Client, store: Store
) -> None:
    flow = create_flow(store=store, slug="branches", definition=BRANCHING, now=clock.now())
    stored = latest_version(flow=flow).definition

    page = _text(signed_in.get(_edit_url(store, "branches")))
    for kind in ("message", "wait", "split", "ab_split", "exit"):
        assert f'value="{kind}"' in page
    answer = _post(signed_in, _edit_url(store, "branches"), _rendered_form(page), action="save")

    assert answer.status_code == 302
    assert "Nothing had changed since the last save." in _text(signed_in.get(answer["Location"]))
    assert latest_version(flow=flow).definition == stored


def test_a_steps_own_coupon_offer_is_kept_when_the_flow_is_edited(
    signed_in: Client, store: Store, upsell: Flow
) -> None:
    definition = latest_version(flow=upsell).definition
    index, step = next(
        (i, s) for i, s in enumerate(definition["steps"]) if s.get("coupon") == "issue"
    )
    step.update(id="offer", offer={"kind": "fixed", "amount": "5", "code_prefix": "STEP"})
    revise_flow(flow=upsell, definition=definition, now=clock.now())

    page = _text(signed_in.get(_edit_url(store)))
    assert re.search(r'type="hidden" name="steps-\d+-offer" value="\{', page)
    assert "This email has a coupon program of its own" in page
    data = _form(upsell)
    data["name"] = ["Upsell, renamed"]
    _post(signed_in, _edit_url(store), data, action="save")

    assert latest_version(flow=upsell).definition["name"] == "Upsell, renamed"
    saved = latest_version(flow=upsell).definition["steps"][index]
    assert saved["offer"]["amount"] == "5" and saved["offer"]["code_prefix"] == "STEP"
