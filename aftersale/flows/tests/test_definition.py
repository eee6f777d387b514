import json

import pytest

from aftersale.flows.definition import InvalidFlowDefinition, parse_definition
from aftersale.flows.services import LIBRARY_DIR


def test_every_ready_flow_in_the_library_validates():
    for path in LIBRARY_DIR.glob("*.json"):
        assert parse_definition(json.loads(path.read_text())).steps


def test_a_missing_field_is_named_in_the_error():
    with pytest.raises(InvalidFlowDefinition, match=r"steps\.0\.email\.template"):
        parse_definition({"name": "x", "steps": [{"type": "email"}]})


def test_an_unknown_step_type_is_refused():
    with pytest.raises(InvalidFlowDefinition, match=r"steps\.0"):
        parse_definition({"name": "x", "steps": [{"type": "teleport"}]})


def test_a_coupon_step_needs_a_coupon_offer():
    with pytest.raises(InvalidFlowDefinition, match="defines no `coupon`"):
        parse_definition(
            {"name": "x", "steps": [{"type": "email", "template": "t", "coupon": "issue"}]}
        )
