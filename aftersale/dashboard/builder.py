"""The flow builder of seed 001: one plain HTML form posting a whole flow definition as
cards (coupon first, then the trigger, messages, splits and exits), saved as a draft, set
live or paused through the same flows services the API calls. The card buttons (add,
remove, move) post the form too and change nothing stored; htmx only swaps the cards in
place and refreshes the timing lines. A failed save re-renders what was posted."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods

from aftersale.coupons.models import DiscountKind
from aftersale.coupons.selectors import SuggestedProgram, suggested_programs
from aftersale.dashboard import flow_form
from aftersale.dashboard.views import _page, _store
from aftersale.flows.definition import (
    ORDER_EVENTS,
    POSTED_EVENTS,
    TIMED_EVENTS,
    WEEKDAYS,
    ExitRule,
    FlowDefinition,
    InvalidFlowDefinition,
    RecommendationStrategy,
    SkipRule,
    Step,
    Trigger,
    parse_definition,
    stored_definition,
)
from aftersale.flows.models import Flow, FlowStatus
from aftersale.flows.selectors import (
    flow_by_slug,
    free_flow_slug,
    journeys_in_flight,
    latest_version,
    library_definition,
    qualifying_customers,
)
from aftersale.flows.services import (
    FlowExists,
    StaleVersion,
    create_flow,
    revise_flow,
    set_flow_status,
)
from aftersale.flows.wording import TRIGGER_MOMENTS, step_moments
from aftersale.lib import clock
from aftersale.messaging.outbox.selectors import store_templates
from aftersale.stores.models import Store

_JUMP = re.compile(r"\bstep (\d+) jumps\b")
CARD_OPERATIONS = re.compile(r"^(add-[a-z_]+|(remove|up|down)-\d+)$")
_CARD_VERBS = {
    "message": "Sent",
    "wait": "Waits until",
    "split": "Decides",
    "ab_split": "Splits",
    "exit": "Ends the journey",
}
# A new flow starts as the seed's first message: one day after the first purchase.
NEW_FLOW = {
    "name": "",
    "trigger": {"event": "first_purchase"},
    "steps": [{"type": "delay", "days": 1}, {"type": "email", "template": "thank-you"}],
}


@login_required
@require_http_methods(["GET", "POST"])
def flow_new(request: HttpRequest, slug: str) -> HttpResponse:
    """A new flow in the builder; saving it creates it as a draft."""
    store = _store(request, slug)
    if request.method == "GET":
        data = flow_form.definition_to_data(
            FlowDefinition.model_validate({**NEW_FLOW, "name": "New flow"}).model_dump(
                mode="json", by_alias=True
            )
        )
        data["name"] = [""]
        return _builder(request, store, None, data)
    return _post(request, store, None)


@login_required
@require_http_methods(["GET", "POST"])
def flow_edit(request: HttpRequest, slug: str, flow: str) -> HttpResponse:
    """The store's flow `flow` in the builder, from its latest version."""
    store = _store(request, slug)
    found = flow_by_slug(store=store, slug=flow)
    if found is None:
        raise Http404("no such flow")
    if request.method == "GET":
        version = latest_version(flow=found)
        data = flow_form.definition_to_data(version.definition)
        data["version"] = [str(version.number)]
        _pick_matching_suggestion(data, _suggestions(store, found))
        return _builder(request, store, found, data)
    return _post(request, store, found)


def _post(request: HttpRequest, store: Store, flow: Flow | None) -> HttpResponse:
    """One POST of the builder's form: a card button, a timing refresh or a save."""
    data = {k: v for k, v in request.POST.lists() if k != "csrfmiddlewaretoken"}
    operation = request.POST.get("op", "")
    suggestions = _suggestions(store, flow)
    _apply_coupon_pick(data, suggestions)
    if CARD_OPERATIONS.match(operation):
        return _builder(request, store, flow, flow_form.apply_operation(data, operation))
    if request.POST.get("refresh") == "timing":
        return _builder(request, store, flow, data, template="dashboard/builder/timing.html")
    action = request.POST.get("action", "save")
    converted = flow_form.data_to_definition(data)
    if action == "json":
        definition, json_error = _typed_json(request.POST.get("definition-json", ""))
        if json_error:
            return _builder(request, store, flow, data, json_problems=[json_error], status=400)
    else:
        definition = converted.definition
    try:
        parsed = parse_definition(definition)
    except InvalidFlowDefinition as error:
        return _refused(request, store, flow, data, converted, error, json_view=action == "json")
    if converted.errors and action != "json":
        return _builder(request, store, flow, data, errors=converted.errors, status=400)
    return _save(request, store, flow, data, parsed, action)


def _save(
    request: HttpRequest,
    store: Store,
    flow: Flow | None,
    data: flow_form.FormData,
    parsed: FlowDefinition,
    action: str,
) -> HttpResponse:
    now = clock.now()
    stored = stored_definition(parsed)
    if flow is None:
        wanted = slugify(request.POST.get("slug", "") or parsed.name)[:50] or "flow"
        try:
            flow = create_flow(store=store, slug=wanted, definition=stored, now=now)
        except FlowExists:
            taken = f"You have a flow “{wanted}” already: choose another short name, e.g. "
            taken += f"“{free_flow_slug(store=store, base=wanted)}”."
            return _builder(request, store, None, data, errors={"slug": taken}, status=400)
        saved = "Created as a draft (version 1)."
    elif stored != latest_version(flow=flow).definition:
        based_on = request.POST.get("based_on_latest") or request.POST.get("version", "")
        try:
            flow = revise_flow(
                flow=flow,
                definition=stored,
                now=now,
                based_on=int(based_on) if based_on.isdigit() else None,
            )
        except StaleVersion as stale:
            return _builder(request, store, flow, data, stale=stale, status=409)
        saved = _saved_words(flow)
    else:
        saved = "Nothing had changed since the last save."
    if action in ("live", "pause"):
        status = FlowStatus.LIVE if action == "live" else FlowStatus.PAUSED
        flow = set_flow_status(flow=flow, status=status)
        saved += (
            " The flow is live: new customers who meet its trigger start it."
            if action == "live"
            else " The flow is paused: nobody new starts it; journeys in flight go on."
        )
    messages.success(request, saved)
    return redirect("dashboard:flow-edit", slug=store.slug, flow=flow.slug)


def _saved_words(flow: Flow) -> str:
    number = latest_version(flow=flow).number
    words = f"Saved as version {number}."
    older = [(v, n) for v, n in journeys_in_flight(flow=flow) if v != number]
    if older:
        listed = ", ".join(f"{n} on version {v}" for v, n in older)
        words += (
            f" Journeys in flight ({listed}) finish on their version;"
            f" new ones start on version {number}."
        )
    return words


def _typed_json(text: str) -> tuple[object, str]:
    try:
        return json.loads(text), ""
    except json.JSONDecodeError as error:
        return None, f"Not JSON: {error.msg} (line {error.lineno}, column {error.colno})."


def _refused(
    request: HttpRequest,
    store: Store,
    flow: Flow | None,
    data: flow_form.FormData,
    converted: flow_form.Converted,
    error: InvalidFlowDefinition,
    *,
    json_view: bool,
) -> HttpResponse:
    if json_view:
        problems = [f"{'.'.join(map(str, p)) or '(the flow)'}: {m}" for p, m in error.problems]
        return _builder(request, store, flow, data, json_problems=problems, status=400)
    errors = dict(converted.errors)
    for path, message in error.problems:
        key = flow_form.field_of(path, converted.origins)
        jump = _JUMP.search(message)
        if not key and jump and int(jump[1]) < len(converted.origins):
            # "step 4 jumps to unknown step id 'x'": said on the card holding step 4.
            key = f"steps-{converted.origins[int(jump[1])][0]}"
        message = merchant_words(key, message)
        errors[key] = f"{errors[key]}; {message}" if key in errors else message
    return _builder(request, store, flow, data, errors=errors, status=400)


_PLAIN_WORDS = (
    (re.compile(r"^Value error, "), ""),
    (re.compile(r"^Input should be a valid (number|integer).*"),
     "Type a number, such as 3 or 1.5"),
    (re.compile(r"^Input should be a valid decimal.*"), "Type an amount, such as 15 or 9.50"),
    (re.compile(r"^Input should be greater than or equal to 0$"), "Cannot be negative"),
    (re.compile(r"^Input should be greater than 0$"), "Must be more than 0"),
    (re.compile(r"^Input should be less than or equal to (\S+)$"), r"At most \1"),
    (re.compile(r"^Input should be greater than or equal to (\S+)$"), r"At least \1"),
    (re.compile(r"^Input should be a valid time.*"), "Type a time such as 10:00"),
    (re.compile(r"^String should match pattern '\^\[A-Z0-9\]\{1,12\}\$'$"),
     "Capital letters A to Z and digits only, 1 to 12 of them"),
    (re.compile(r"^String should match pattern '\^\[a-z0-9_-\]\*\$'$"),
     "Small letters, digits, - and _ only"),
    (re.compile(r"^String should have at least 1 character$"), "Required"),
    (re.compile(r"^Input should be '(.*)'$"), r"Choose one of: \1"),
)  # fmt: skip


def merchant_words(field: str, message: str) -> str:
    """A validation message of the flow definition as a merchant reads it ("Type a whole
    number or a decimal, such as 3 or 1.5" rather than pydantic's "Input should be a valid
    number, unable to parse string as a number")."""
    if field.endswith("-template") and "at least 1 character" in message:
        return "Choose the template this message sends"
    for pattern, replacement in _PLAIN_WORDS:
        if pattern.search(message):
            return pattern.sub(replacement, message)
    return message


def _suggestions(store: Store, flow: Flow | None) -> list[SuggestedProgram]:
    own = None
    if flow is not None:
        ready = library_definition(re.sub(r"-\d+$", "", flow.slug))
        if ready is not None and ready.coupon is not None:
            own = ready.coupon.model_dump(mode="json")
    return suggested_programs(own=own, currency=store.currency)


def _apply_coupon_pick(data: flow_form.FormData, suggestions: Sequence[SuggestedProgram]) -> None:
    """A picked suggestion fills the coupon's fields (the code prefix stays as typed)."""
    pick = (data.get("coupon-pick") or ["none"])[-1]
    chosen = next((s for s in suggestions if s.key == pick), None)
    if chosen is not None:
        for name, value in chosen.terms().items():
            data[f"coupon-{name}"] = [str(value)]
        if not (data.get("coupon-code_prefix") or [""])[-1]:
            data["coupon-code_prefix"] = ["THANKS"]


def _pick_matching_suggestion(
    data: flow_form.FormData, suggestions: Sequence[SuggestedProgram]
) -> None:
    if (data.get("coupon-pick") or [""])[-1] != "custom":
        return
    typed = flow_form.data_to_definition(data).definition.get("coupon") or {}
    for suggestion in suggestions:
        terms = suggestion.terms()
        if all(
            str(typed.get(name, "")).rstrip("0").rstrip(".")
            == str(terms[name]).rstrip("0").rstrip(".")
            for name in terms
        ):
            data["coupon-pick"] = [suggestion.key]
            return


def _builder(
    request: HttpRequest,
    store: Store,
    flow: Flow | None,
    data: flow_form.FormData,
    *,
    errors: Mapping[str, str] | None = None,
    json_problems: Sequence[str] = (),
    stale: StaleVersion | None = None,
    status: int = 200,
    template: str = "dashboard/builder/builder.html",
) -> HttpResponse:
    """Render the builder from form data (stored or as posted), with problems by field."""
    errors = dict(errors or {})
    converted = flow_form.data_to_definition(data)
    cards = flow_form.card_values(data)
    trigger_event = (data.get("trigger-event") or ["first_purchase"])[-1]
    _add_timing(cards, converted, trigger_event)
    for index, card in enumerate(cards):
        prefix = f"steps-{index}-"
        card["index"] = index
        card["errors"] = {
            k[len(prefix) :].replace("-", "_"): m for k, m in errors.items() if k.startswith(prefix)
        }
        card["problem"] = errors.get(f"steps-{index}", "")
        card["prefix"] = f"steps-{index}"
        card["variant_rows"] = [
            {
                "letter": "ABCD"[k],
                "weight_name": f"{prefix}variants-{k}-weight",
                "goto_name": f"{prefix}variants-{k}-goto",
                "weight": weight,
                "goto": goto,
                "weight_error": errors.get(f"{prefix}variants-{k}-weight", ""),
                "goto_error": errors.get(f"{prefix}variants-{k}-goto", ""),
            }
            for k, weight, goto in card["variants"]
        ]
    top_errors = {k.replace("-", "_"): m for k, m in errors.items() if not k.startswith("steps-")}
    definition_json = json.dumps(converted.definition, indent=2, ensure_ascii=False)
    if "definition-json" in data and json_problems:
        definition_json = data["definition-json"][-1]
    context: dict[str, Any] = {
        "section": "automations",
        "store": store,
        "flow": flow,
        "f": flow_form.flow_values(data),
        "cards": cards,
        "errors": top_errors,
        "all_errors": sorted(errors.items()),
        "flow_error": errors.get("", ""),
        "json_problems": json_problems,
        "definition_json": definition_json,
        "stale": stale,
        "suggestions": _suggestions(store, flow),
        "templates": _template_choices(store, cards),
        "qualifying": _qualifying(store, converted.definition.get("trigger")),
        "in_flight": journeys_in_flight(flow=flow) if flow else [],
        "latest": latest_version(flow=flow).number if flow else 0,
        "choices": CHOICES,
        "add_kinds": ADD_KINDS,
        "moment": TRIGGER_MOMENTS.get(trigger_event, "the trigger"),
    }
    if template != "dashboard/builder/builder.html":
        return render(request, template, context)
    response = _page(request, template, context)
    response.status_code = status
    return response


def _add_timing(cards: list[dict[str, Any]], converted: flow_form.Converted, event: str) -> None:
    steps = [_step_for_timing(step) for step in converted.definition["steps"]]
    moments = step_moments(trigger_event=event, steps=steps)
    for (card, _), moment in zip(converted.origins, moments, strict=True):
        # A message card's line is its email's: the last step it holds.
        kind = cards[card]["type"]
        cards[card]["timing"] = f"{_CARD_VERBS.get(kind, 'Runs')} {moment}" if moment else ""


def _step_for_timing(step: Mapping[str, Any]) -> Step | None:
    parsed = flow_form.parse_step(step)
    if parsed is None and step.get("type") == "email":
        # An email's time does not depend on its template: time it while one is chosen.
        parsed = flow_form.parse_step(
            {
                "type": "email",
                "template": "-",
                "id": step.get("id", ""),
                "next": step.get("next", ""),
            }
        )
    return parsed


def _template_choices(store: Store, cards: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    choices = [(t.slug, f"{t.name} ({t.slug})") for t in store_templates(store=store)]
    known = {slug for slug, _ in choices}
    for card in cards:
        slug = card.get("template", "")
        if slug and slug not in known:
            choices.append((slug, f"{slug} (no such template yet)"))
            known.add(slug)
    return choices


def _qualifying(store: Store, trigger: object) -> object:
    try:
        parsed = Trigger.model_validate(trigger)
    except ValueError:
        return None
    try:
        return qualifying_customers(store=store, trigger=parsed, now=clock.now())
    except ValueError:  # a segment that does not validate
        return None


def _labelled(
    values: Sequence[str], labels: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    labels = labels or {}
    return [(v, labels.get(v, v.replace("_", " ").capitalize())) for v in values]


ADD_KINDS = [
    ("message", "Message"),
    ("wait", "Wait"),
    ("split", "Conditional split"),
    ("ab_split", "A/B split"),
    ("exit", "Exit"),
]
EVENT_LABELS = {
    "first_purchase": "First purchase",
    "any_purchase": "Any purchase",
    "order_fulfilled": "Order fulfilled (shipped)",
    "order_delivered": "Order delivered",
    "product_purchased": "Bought one of these products",
    "category_purchased": "Bought from one of these categories",
    "product_viewed": "Viewed a product",
    "custom": "A custom event",
    "checkout_abandoned": "Checkout abandoned",
    "birthday": "Birthday",
    "first_order_anniversary": "First order anniversary",
    "customer_dormant": "Customer dormant (no order for a while)",
}
CHOICES = {
    "events": _labelled([*ORDER_EVENTS, *POSTED_EVENTS, *TIMED_EVENTS], EVENT_LABELS),
    "strategies": _labelled(
        list(get_args(RecommendationStrategy)),
        {
            "none": "No product picks",
            "frequently_bought_together": "Cross-sell (frequently bought together)",
        },
    ),
    "coupon_uses": _labelled(
        ["none", "issue", "remind"],
        {"none": "No coupon", "issue": "Issue a unique code", "remind": "Remind of the code"},
    ),
    "skip_rules": _labelled(list(get_args(SkipRule))),
    "exit_rules": _labelled(
        list(get_args(ExitRule)),
        {
            "purchased_again": "They buy again",
            "refunded": "The order is refunded or cancelled",
            "unsubscribed": "They unsubscribe",
            "checkout_completed": "The checkout is completed",
        },
    ),
    "weekdays": _labelled(list(WEEKDAYS)),
    "condition_kinds": _labelled(
        list(flow_form.CONDITION_KINDS),
        {
            "opened": "Opened an email",
            "clicked": "Clicked in an email",
            "purchased_since_entry": "Bought since entering",
            "used_coupon": "Used the coupon",
            "in_segment": "Is in a segment",
            "order_value": "Order value between",
        },
    ),
    "discount_kinds": _labelled(
        list(DiscountKind.values), {"percent": "Percent off", "fixed": "Fixed amount off"}
    ),
    "relative_to": _labelled(
        ["previous_step", "delivery", "replenishment_due"],
        {
            "previous_step": "after the step before",
            "delivery": "after delivery",
            "replenishment_due": "before the restock is due",
        },
    ),
    "reentry": _labelled(["once", "every"], {"once": "Only once", "every": "Again after N days"}),
    "smart_sending": _labelled(["skip", "delay"], {"skip": "Skip the email", "delay": "Wait"}),
    "step_smart_sending": _labelled(
        ["", "delay", "skip"],
        {"": "As the flow says (a coupon email waits)", "delay": "Wait", "skip": "Skip the email"},
    ),
    "smart_sending_coupons": _labelled(
        ["delay", "skip"], {"delay": "Wait (the coupon still arrives)", "skip": "Skip the email"}
    ),
}
