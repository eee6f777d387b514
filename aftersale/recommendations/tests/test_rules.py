from pathlib import Path

import pytest

from aftersale.recommendations.models import ComplementRule, RuleKind
from aftersale.recommendations.services import InvalidRules, load_rules
from aftersale.recommendations.tests.conftest import Shop

HEADER = "kind,source_product,source_category,target_product,target_category"


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "rules.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_loading_rules_replaces_the_stores_rules(shop: Shop, tmp_path):
    shop.products("phone", "case")
    load_rules(store=shop.store, path=_file(tmp_path, HEADER, ",phone,,case,"))
    count = load_rules(
        store=shop.store, path=_file(tmp_path, HEADER, "upgrade,,phones,,premium phones")
    )
    assert count == 1
    rule = ComplementRule.objects.get(store=shop.store)
    assert (rule.kind, rule.source_category, rule.target_category) == (
        RuleKind.UPGRADE,
        "phones",
        "premium phones",
    )


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("complement,phone,phones,case,", "rules.csv:3: give exactly one of source_product"),
        ("complement,phone,,,", "rules.csv:3: give exactly one of target_product"),
        ("complement,phone,,charger,", "rules.csv:3: target_product 'charger' is not in"),
        ("bundle,phone,,case,", "rules.csv:3: kind 'bundle' is not one of complement, upgrade"),
    ],
)
def test_a_bad_line_is_named_and_the_old_rules_stay(shop: Shop, tmp_path, line, error):
    shop.products("phone", "case")
    load_rules(store=shop.store, path=_file(tmp_path, HEADER, ",phone,,case,"))
    with pytest.raises(InvalidRules, match=error):
        load_rules(store=shop.store, path=_file(tmp_path, HEADER, ",case,,phone,", line))
    assert ComplementRule.objects.filter(store=shop.store).count() == 1


def test_a_file_without_the_columns_is_refused(shop: Shop, tmp_path):
    with pytest.raises(InvalidRules, match="missing columns source_category"):
        load_rules(store=shop.store, path=_file(tmp_path, "source_product,target_product"))


def test_the_commands_load_rules_and_fit(shop: Shop, tmp_path):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    shop.products("phone", "case")
    shop.baskets(["phone", "case"], times=3)
    out = StringIO()
    call_command(
        "recommendations", "rules", str(_file(tmp_path, HEADER, ",phone,,case,")), stdout=out
    )
    call_command("recommendations", "fit", stdout=out)
    assert "test-shop: 1 rules loaded" in out.getvalue()
    assert "2 similar-history pairs" in out.getvalue()
    with pytest.raises(CommandError, match=r"rules\.csv:2: kind 'x'"):
        call_command("recommendations", "rules", str(_file(tmp_path, HEADER, "x,phone,,case,")))
