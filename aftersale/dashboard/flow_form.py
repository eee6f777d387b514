"""The flow builder's form <-> a flow definition (the JSON of docs/flows.md).

The form is flat, as an HTML form posts it (`steps-0-delay-days`), every value a list of
strings like `QueryDict.lists()`. Its steps are **cards**: a *message* card is an email
step with the delay before it (one card, as the merchant thinks of it), a *wait* card a
delay on its own (before a split, or a jump target), and *split*, *ab_split* and *exit*
cards their steps. Converting a definition to form data and back gives the same
definition; converting form data keeps what was typed, so a failed save re-renders it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aftersale.flows.definition import FieldPath, Step

FormData = dict[str, list[str]]

CARD_TYPES = ("message", "wait", "split", "ab_split", "exit")
STEP_TYPES = ("delay", "email", "split", "ab_split", "exit")
CONDITION_KINDS = ("opened", "clicked", "purchased_since_entry", "used_coupon", "in_segment",
                   "order_value")  # fmt: skip
MAX_VARIANTS = 4
_DELAY_FIELDS = ("days", "hours", "minutes", "relative_to", "fallback_days_after_fulfilled",
                 "lead_days", "at")  # fmt: skip
_TRIGGER_FIELDS = ("event", "min_order_total", "name", "abandoned_hours", "dormant_days",
                   "local_hour")  # fmt: skip
_COUPON_FIELDS = ("kind", "amount", "minimum_order", "valid_days", "code_prefix")
_STEP_ADAPTER: TypeAdapter[Step] = TypeAdapter(Step)


def _text(value: object) -> str:
    """A definition value as a form shows it: 3.0 -> "3", Decimal("15.00") -> "15.00"."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def _time_text(value: object) -> str:
    # "10:00:00" as stored -> "10:00" as an <input type="time"> posts it.
    text = _text(value)
    return text[:5] if len(text) == 8 and text.endswith(":00") else text


# --- definition -> form data -----------------------------------------------------------


def definition_to_data(definition: Mapping[str, Any]) -> FormData:
    """The form data showing `definition` (a validated definition's JSON: every field
    present, as `FlowDefinition.model_dump(mode="json", by_alias=True)` gives it)."""
    data: FormData = {"name": [definition.get("name", "")]}
    trigger = definition.get("trigger") or {}
    for name in _TRIGGER_FIELDS:
        data[f"trigger-{name}"] = [_text(trigger.get(name, ""))]
    data["trigger-categories"] = [", ".join(trigger.get("categories") or ())]
    data["trigger-products"] = [", ".join(trigger.get("products") or ())]
    segment = trigger.get("segment")
    data["trigger-segment"] = [json.dumps(segment) if segment is not None else ""]
    reentry = trigger.get("reentry") or {}
    data["trigger-reentry-mode"] = [reentry.get("mode", "once")]
    data["trigger-reentry-days"] = [_text(reentry.get("days", 0))]
    data["exit_when"] = list(definition.get("exit_when", ()))
    guards = definition.get("guards") or {}
    # A stored definition keeps only the guards it set; the others follow the store's.
    own = "smart_sending_hours" in guards or "quiet_hours" in guards
    data["guards-own"] = ["on" if own else ""]
    data["guards-smart_sending_hours"] = [_text(guards.get("smart_sending_hours", 16))]
    data["guards-smart_sending"] = [guards.get("smart_sending", "skip")]
    data["guards-smart_sending_coupons"] = [guards.get("smart_sending_coupons", "delay")]
    quiet = guards.get("quiet_hours")
    data["guards-quiet_hours"] = ["on" if quiet else ""]
    data["guards-quiet_hours-start"] = [_time_text((quiet or {}).get("start", "21:00"))]
    data["guards-quiet_hours-end"] = [_time_text((quiet or {}).get("end", "08:00"))]
    coupon = definition.get("coupon")
    data["coupon-pick"] = ["custom" if coupon else "none"]
    for name in _COUPON_FIELDS:
        data[f"coupon-{name}"] = [_text((coupon or {}).get(name, ""))]
    data["holdout_percent"] = [_text(definition.get("holdout_percent", 10))]
    cards = _cards_of(list(definition.get("steps", ())))
    data["steps-count"] = [str(len(cards))]
    for index, card in enumerate(cards):
        data.update({f"steps-{index}-{key}": value for key, value in card.items()})
    return data


def _cards_of(steps: list[dict[str, Any]]) -> list[FormData]:
    cards: list[FormData] = []
    index = 0
    while index < len(steps):
        step = steps[index]
        following = steps[index + 1] if index + 1 < len(steps) else None
        if (
            step["type"] == "delay"
            and following is not None
            and following["type"] == "email"
            and not following.get("id")
            and not step.get("next")
        ):
            card = {"type": ["message"], "id": [step.get("id", "")], **_delay_data(step)}
            card.update(_email_data(following))
            cards.append(card)
            index += 2
            continue
        if step["type"] == "email":
            card = {"type": ["message"], "id": [step.get("id", "")], **_delay_data(None)}
            card.update(_email_data(step))
        elif step["type"] == "delay":
            card = {"type": ["wait"], "id": [step.get("id", "")], "next": [step.get("next", "")]}
            card.update(_delay_data(step))
        else:
            card = {"type": [step["type"]], "id": [step.get("id", "")]}
            card["next"] = [step.get("next", "")]
            card.update(_branch_data(step))
        cards.append(card)
        index += 1
    return cards


def _delay_data(step: Mapping[str, Any] | None) -> FormData:
    step = step or {"days": 0, "hours": 0, "minutes": 0}
    data = {f"delay-{name}": [_text(step.get(name, ""))] for name in _DELAY_FIELDS}
    for name in ("days", "hours", "minutes"):
        data[f"delay-{name}"] = [_text(step.get(name, 0))]
    data["delay-relative_to"] = [step.get("relative_to", "previous_step")]
    data["delay-at"] = [_time_text(step.get("at"))]
    data["delay-weekdays"] = list(step.get("weekdays", ()))
    return data


def _email_data(step: Mapping[str, Any]) -> FormData:
    return {
        "next": [step.get("next", "")],
        "template": [step.get("template", "")],
        "recommendations": [step.get("recommendations", "none")],
        "coupon": [step.get("coupon", "none")],
        "skip_if": list(step.get("skip_if", ())),
        "transactional": [_text(bool(step.get("transactional")))],
        "smart_sending": [step.get("smart_sending") or ""],
        # A step's own coupon program (coupons per step) has no fields here yet: kept as
        # JSON in a hidden field so that editing the flow does not drop it.
        "offer": [json.dumps(step["offer"]) if step.get("offer") else ""],
    }


def _branch_data(step: Mapping[str, Any]) -> FormData:
    if step["type"] == "split":
        condition = step.get("condition") or {}
        segment = condition.get("segment")
        return {
            "condition-kind": [condition.get("kind", "opened")],
            "condition-step": [condition.get("step", "")],
            "condition-segment": [json.dumps(segment) if segment is not None else ""],
            "condition-min": [_text(condition.get("min"))],
            "condition-max": [_text(condition.get("max"))],
            "then": [step.get("then", "")],
            "else": [step.get("else", step.get("otherwise", ""))],
        }
    if step["type"] == "ab_split":
        data: FormData = {}
        for k, variant in enumerate(step.get("variants", ())):
            data[f"variants-{k}-weight"] = [_text(variant.get("weight", ""))]
            data[f"variants-{k}-goto"] = [variant.get("goto", "")]
        return data
    return {}


# --- form data -> definition -----------------------------------------------------------


@dataclass
class Converted:
    """Form data made into a definition's JSON (to validate), with what could not even be
    read (bad JSON in a segment) by form field, and which card each step came from:
    `origins[i]` is (card index, "delay" or "" for the card's main step)."""

    definition: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    origins: list[tuple[int, str]] = field(default_factory=list)


def _one(data: Mapping[str, Sequence[str]], key: str, default: str = "") -> str:
    values = data.get(key) or [default]
    return values[-1].strip()


def _put(target: dict[str, Any], name: str, value: str) -> None:
    # An empty field means "the default", left out for the definition to fill in.
    if value != "":
        target[name] = value


def card_count(data: Mapping[str, Sequence[str]]) -> int:
    """How many cards the form data holds."""
    count = _one(data, "steps-count", "0")
    return int(count) if count.isdigit() else 0


def data_to_definition(data: Mapping[str, Sequence[str]]) -> Converted:
    """The definition JSON the form data says (not validated: `parse_definition` does
    that, and `field_of` names the form field of each problem it finds)."""
    converted = Converted(definition={})
    out = converted.definition
    out["name"] = _one(data, "name")
    trigger: dict[str, Any] = {}
    for name in _TRIGGER_FIELDS:
        _put(trigger, name, _one(data, f"trigger-{name}"))
    for name in ("categories", "products"):
        items = [i.strip() for i in _one(data, f"trigger-{name}").split(",") if i.strip()]
        if items:
            trigger[name] = items
    segment = _json_field(converted, data, "trigger-segment")
    if segment is not None:
        trigger["segment"] = segment
    reentry = {"mode": _one(data, "trigger-reentry-mode", "once")}
    _put(reentry, "days", _one(data, "trigger-reentry-days"))
    trigger["reentry"] = reentry
    out["trigger"] = trigger
    out["exit_when"] = list(data.get("exit_when", ()))
    guards: dict[str, Any] = {}
    _put(guards, "smart_sending", _one(data, "guards-smart_sending"))
    _put(guards, "smart_sending_coupons", _one(data, "guards-smart_sending_coupons"))
    if _one(data, "guards-own"):
        _put(guards, "smart_sending_hours", _one(data, "guards-smart_sending_hours"))
        guards["quiet_hours"] = _quiet_hours(data)
    out["guards"] = guards
    if _one(data, "coupon-pick", "none") != "none":
        coupon: dict[str, Any] = {}
        for name in _COUPON_FIELDS:
            _put(coupon, name, _one(data, f"coupon-{name}"))
        out["coupon"] = coupon
    _put(out, "holdout_percent", _one(data, "holdout_percent"))
    steps: list[dict[str, Any]] = []
    for index in range(card_count(data)):
        for origin, step in _steps_of_card(converted, data, index):
            steps.append(step)
            converted.origins.append((index, origin))
    out["steps"] = steps
    return converted


def _json_field(
    converted: Converted, data: Mapping[str, Sequence[str]], key: str
) -> dict[str, Any] | None:
    text = _one(data, key)
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        converted.errors[key] = f"not JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        return None
    if not isinstance(value, dict):
        converted.errors[key] = 'a segment is a JSON object, such as {"type": "repeat"}'
        return None
    return value


def _delay_step(data: Mapping[str, Sequence[str]], prefix: str) -> dict[str, Any]:
    step: dict[str, Any] = {"type": "delay"}
    for name in _DELAY_FIELDS:
        _put(step, name, _one(data, f"{prefix}delay-{name}"))
    weekdays = list(data.get(f"{prefix}delay-weekdays", ()))
    if weekdays:
        step["weekdays"] = weekdays
    return step


def _waits(step: Mapping[str, Any]) -> bool:
    """Whether a message card's delay says anything: then it is a step of its own."""

    def nonzero(name: str) -> bool:
        try:
            return float(step.get(name, 0)) != 0
        except ValueError:
            return True  # typed but not a number: kept, for the definition to refuse

    return (
        any(nonzero(name) for name in ("days", "hours", "minutes", "lead_days"))
        or step.get("relative_to", "previous_step") != "previous_step"
        or any(name in step for name in ("weekdays", "at", "fallback_days_after_fulfilled"))
    )


def _steps_of_card(
    converted: Converted, data: Mapping[str, Sequence[str]], index: int
) -> list[tuple[str, dict[str, Any]]]:
    prefix = f"steps-{index}-"
    kind = _one(data, f"{prefix}type", "message")
    step_id, following = _one(data, f"{prefix}id"), _one(data, f"{prefix}next")
    if kind in ("message", "wait"):
        delay = _delay_step(data, prefix)
        if kind == "wait":
            _put(delay, "id", step_id)
            _put(delay, "next", following)
            return [("delay", delay)]
        email: dict[str, Any] = {"type": "email", "template": _one(data, f"{prefix}template")}
        for name in ("recommendations", "coupon"):
            _put(email, name, _one(data, f"{prefix}{name}"))
        skip = list(data.get(f"{prefix}skip_if", ()))
        if skip:
            email["skip_if"] = skip
        email["transactional"] = bool(_one(data, f"{prefix}transactional"))
        _put(email, "smart_sending", _one(data, f"{prefix}smart_sending"))
        offer = _one(data, f"{prefix}offer")
        if offer:
            try:
                email["offer"] = json.loads(offer)
            except ValueError:
                email["offer"] = offer  # the definition's validation names it
        _put(email, "next", following)
        if _waits(delay):
            _put(delay, "id", step_id)
            return [("delay", delay), ("", email)]
        _put(email, "id", step_id)
        return [("", email)]
    step: dict[str, Any] = {"type": kind}
    _put(step, "id", step_id)
    _put(step, "next", following)
    if kind == "split":
        condition: dict[str, Any] = {"kind": _one(data, f"{prefix}condition-kind", "opened")}
        if condition["kind"] in ("opened", "clicked"):
            _put(condition, "step", _one(data, f"{prefix}condition-step"))
        if condition["kind"] == "in_segment":
            condition["segment"] = _json_field(converted, data, f"{prefix}condition-segment")
        if condition["kind"] == "order_value":
            _put(condition, "min", _one(data, f"{prefix}condition-min"))
            _put(condition, "max", _one(data, f"{prefix}condition-max"))
        step["condition"] = condition
        _put(step, "then", _one(data, f"{prefix}then"))
        _put(step, "else", _one(data, f"{prefix}else"))
    elif kind == "ab_split":
        variants = []
        for k in range(MAX_VARIANTS):
            weight = _one(data, f"{prefix}variants-{k}-weight")
            goto = _one(data, f"{prefix}variants-{k}-goto")
            if weight or goto:
                variants.append({"weight": weight, "goto": goto})
        step["variants"] = variants
    return [("", step)]


# --- problems -> form fields -----------------------------------------------------------


def field_of(path: FieldPath, origins: Sequence[tuple[int, str]]) -> str:
    """The form field a definition problem's path names ("steps-1-delay-days" for
    `steps.2.delay.days` when step 2 is card 1's delay); "" for the flow as a whole."""
    parts = [str(p) for p in path]
    if not parts:
        return ""
    if parts[0] != "steps" or len(parts) == 1:
        return "-".join(parts[:3] if parts[0] in ("trigger", "guards") else parts[:2])
    step = int(parts[1])
    if step >= len(origins):
        return "steps"
    card, origin = origins[step]
    rest = parts[2:]
    if rest and rest[0] in STEP_TYPES:
        rest = rest[1:]
    if rest[:1] == ["condition"] and len(rest) > 1 and rest[1] in CONDITION_KINDS:
        rest = [rest[0], *rest[2:]]
    if rest[:1] == ["otherwise"]:
        rest = ["else"]
    prefix = f"steps-{card}"
    if not rest:
        return prefix
    if rest[0] in ("id", "next"):
        return f"{prefix}-{rest[0]}"
    if origin == "delay":
        return f"{prefix}-delay-{rest[0]}"
    if rest[0] == "variants":
        return "-".join([prefix, *rest[:3]])
    if rest[0] == "condition":
        return "-".join([prefix, *rest[:2]])
    return f"{prefix}-{rest[0]}"


def parse_step(step: Mapping[str, Any]) -> Step | None:
    """One step's JSON validated on its own (for its timing line), or None if it does
    not validate."""
    try:
        return _STEP_ADAPTER.validate_python(step)
    except ValidationError:
        return None


# --- adding, removing and moving cards -------------------------------------------------


def _split_cards(data: Mapping[str, Sequence[str]]) -> tuple[FormData, list[FormData]]:
    count = card_count(data)
    rest: FormData = {}
    cards: list[FormData] = [{} for _ in range(count)]
    for key, values in data.items():
        if key.startswith("steps-") and key != "steps-count":
            head, _, tail = key[len("steps-") :].partition("-")
            if head.isdigit() and int(head) < count:
                cards[int(head)][tail] = list(values)
            continue
        rest[key] = list(values)
    return rest, cards


def _join_cards(rest: FormData, cards: Sequence[FormData]) -> FormData:
    data = {k: v for k, v in rest.items() if k != "steps-count"}
    data["steps-count"] = [str(len(cards))]
    for index, card in enumerate(cards):
        data.update({f"steps-{index}-{key}": value for key, value in card.items()})
    return data


def new_card(kind: str) -> FormData:
    """The form data of a new card of `kind` (a message card waits one day)."""
    if kind == "message":
        card: FormData = {"type": ["message"], "id": [""], **_delay_data({"days": 1})}
        card.update(_email_data({}))
        return card
    if kind == "wait":
        return {"type": ["wait"], "id": [""], "next": [""], **_delay_data({"days": 1})}
    if kind == "split":
        return {"type": ["split"], "id": [""], "next": [""], **_branch_data({"type": "split"})}
    if kind == "ab_split":
        variants = {"type": "ab_split", "variants": [{"weight": 50}, {"weight": 50}]}
        return {"type": ["ab_split"], "id": [""], "next": [""], **_branch_data(variants)}
    return {"type": ["exit"], "id": [""], "next": [""]}


def apply_operation(data: Mapping[str, Sequence[str]], operation: str) -> FormData:
    """The form data after one of the builder's card buttons: `add-KIND` (appends a card),
    `remove-N`, `up-N`, `down-N`; anything else changes nothing. Every typed value is
    kept."""
    rest, cards = _split_cards(data)
    verb, _, argument = operation.partition("-")
    if verb == "add" and argument in CARD_TYPES:
        cards.append(new_card(argument))
    elif argument.isdigit() and int(argument) < len(cards):
        index = int(argument)
        if verb == "remove":
            del cards[index]
        elif verb == "up" and index > 0:
            cards[index - 1], cards[index] = cards[index], cards[index - 1]
        elif verb == "down" and index + 1 < len(cards):
            cards[index + 1], cards[index] = cards[index], cards[index + 1]
    return _join_cards(rest, cards)


def card_values(data: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Each card's values for a template: `type`, the card's fields with `-` as `_`
    (`delay_days`), one string each, lists for `delay_weekdays` and `skip_if`, and
    `variants` as (index, weight, goto) rows padded to MAX_VARIANTS."""
    _, cards = _split_cards(data)
    shown = []
    for card in cards:
        values: dict[str, Any] = {
            key.replace("-", "_"): (vals[-1] if vals else "")
            for key, vals in card.items()
            if not key.startswith("variants-")
        }
        values["type"] = values.get("type") or "message"
        values["delay_weekdays"] = card.get("delay-weekdays", [])
        values["skip_if"] = card.get("skip_if", [])
        values["variants"] = [
            (
                k,
                _one(card, f"variants-{k}-weight"),
                _one(card, f"variants-{k}-goto"),
            )
            for k in range(MAX_VARIANTS)
        ]
        shown.append(values)
    return shown


def flow_values(data: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The flow's own (not its cards') values for a template, `-` as `_`, lists for
    `exit_when`."""
    rest, _ = _split_cards(data)
    values: dict[str, Any] = {
        key.replace("-", "_"): (vals[-1] if vals else "") for key, vals in rest.items()
    }
    values["exit_when"] = rest.get("exit_when", [])
    return values


def _quiet_hours(data: Mapping[str, Sequence[str]]) -> dict[str, Any] | None:
    if not _one(data, "guards-quiet_hours"):
        return None
    quiet: dict[str, Any] = {}
    _put(quiet, "start", _one(data, "guards-quiet_hours-start"))
    _put(quiet, "end", _one(data, "guards-quiet_hours-end"))
    return quiet
