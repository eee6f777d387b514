"""The dashboard's pages through Django's test client: logins, which stores a login may
see, and the Recommendations page over stored evaluation runs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from aftersale.dashboard.evaluation import task_results
from aftersale.dashboard.tests.conftest import PASSWORD, RAN_AT, SaveRun, report_scoring
from aftersale.flows.models import FlowStatus
from aftersale.flows.services import install_library_flow
from aftersale.lib.clock import VirtualClock
from aftersale.recommendations.evaluation.baselines import fit_popularity
from aftersale.recommendations.evaluation.metrics import TASKS
from aftersale.recommendations.evaluation.output import report_data
from aftersale.recommendations.evaluation.records import save_evaluation
from aftersale.recommendations.evaluation.run import Method, Report, skipped_row
from aftersale.recommendations.tests.conftest import Shop
from aftersale.stores.models import Store
from aftersale.stores.services import create_store


def _pages(store: Store, run_id: int) -> list[str]:
    return [
        reverse("dashboard:overview"),
        reverse("dashboard:recommendations", args=[store.slug]),
        reverse("dashboard:evaluation-chart", args=[store.slug, run_id]),
    ]


def test_every_page_sends_a_visitor_without_a_login_to_the_login_page(
    client: Client, store: Store, save_run: SaveRun
) -> None:
    run = save_run(store=store, hit=0.5)
    for page in _pages(store, run.pk):
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('dashboard:login')}?next={page}"


def test_logging_in_leads_to_the_stores_of_the_login_with_their_live_flows(
    client: Client, store: Store, merchant: User, clock: VirtualClock
) -> None:
    create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Someone Else's Shop",
        slug="elsewhere",
        now=clock.now(),
    )
    install_library_flow(store=store, slug="post-purchase-upsell", now=clock.now())
    install_library_flow(
        store=store, slug="review-request", now=clock.now(), status=FlowStatus.DRAFT
    )

    response = client.post(
        reverse("dashboard:login"), {"username": "merchant", "password": PASSWORD}, follow=True
    )

    assert response.redirect_chain == [(reverse("dashboard:overview"), 302)]
    page = response.content.decode()
    assert "Test Shop" in page
    assert "Someone Else" not in page
    assert response.context["rows"] == [(store, 1)]


def test_a_wrong_password_is_refused_and_said_so(client: Client, merchant: User) -> None:
    response = client.post(
        reverse("dashboard:login"), {"username": "merchant", "password": "guess"}
    )
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_login_cannot_see_another_stores_pages_or_runs(
    client: Client, store: Store, merchant: User, clock: VirtualClock, save_run: SaveRun
) -> None:
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other",
        slug="other",
        now=clock.now(),
    )
    others_run = save_run(store=other, hit=0.9)
    client.force_login(merchant)

    assert client.get(reverse("dashboard:recommendations", args=[other.slug])).status_code == 404
    chart = reverse("dashboard:evaluation-chart", args=[other.slug, others_run.pk])
    assert client.get(chart).status_code == 404
    own_page = reverse("dashboard:recommendations", args=[store.slug])
    assert client.get(own_page, {"run": others_run.pk}).status_code == 404
    assert client.get(own_page, {"run": "latest"}).status_code == 404
    own_chart = reverse("dashboard:evaluation-chart", args=[store.slug, others_run.pk])
    assert client.get(own_chart).status_code == 404


def test_a_superuser_sees_every_store(
    client: Client, store: Store, clock: VirtualClock, django_user_model: type[User]
) -> None:
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other",
        slug="other",
        now=clock.now(),
    )
    admin = django_user_model.objects.create_superuser(username="admin", password=PASSWORD)
    client.force_login(admin)

    response = client.get(reverse("dashboard:overview"))

    assert [row[0] for row in response.context["rows"]] == [other, store]
    assert client.get(reverse("dashboard:recommendations", args=[other.slug])).status_code == 200


def test_the_recommendations_page_shows_the_stores_latest_run_with_its_best_rows_marked(
    client: Client, store: Store, merchant: User, save_run: SaveRun, clock: VirtualClock
) -> None:
    save_run(store=None, hit=0.3, at=clock.now())
    save_run(store=store, hit=0.4, at=clock.now())
    latest = save_run(store=store, hit=0.5, at=clock.now())
    client.force_login(merchant)

    response = client.get(reverse("dashboard:recommendations", args=[store.slug]))

    assert response.context["run"] == latest
    page = response.content.decode()
    assert page.count('<tr class="aftersale best-strategy">') == 2
    assert page.count('<tr class="baseline best-baseline">') == 2
    for value in ("0.5000", "0.2500", "0.1667", "0.0125", "1.50", ">42<"):
        assert value in page
    assert "half_life_days=90 neighbours=50" in page
    assert (
        "personal reaches 2.00 times the hit rate@4 of the best baseline, implicit_bm25 "
        "(95% paired-bootstrap interval 1.80 to 2.20): better, beyond noise." in page
    )
    assert f"runs/{latest.pk}/chart.png" in page
    assert "reference dataset" not in page


def test_a_run_with_a_mixed_method_says_what_variety_gave_under_its_verdict() -> None:
    report = report_data(report=report_scoring(0.5))
    report["variety"] = {
        "cross_sell": {
            "metric": "hit_rate",
            "strategy": "discovery",
            "plain": "discovery_plain",
            "ratio": 0.9969,
            "low": 0.9886,
            "high": 1.0034,
            "level": 0.95,
            "coverage_ratio": 2.316,
        },
        "replenishment": {"metric": "ndcg", "ratio": 1.0, "coverage_ratio": 1.0, "level": 0.95},
    }
    said = {task.task: task.variety for task in task_results(report=report)}
    assert said == {
        "cross_sell": "discovery shows 2.32 times the products of discovery_plain, at 1.00 "
        "times its hit rate@4 (95% paired-bootstrap interval 0.99 to 1.00).",
        "replenishment": "",
    }


def test_an_htmx_request_for_another_run_gets_only_the_results_panel(
    client: Client, store: Store, merchant: User, save_run: SaveRun
) -> None:
    older = save_run(store=store, hit=0.125)
    save_run(store=store, hit=0.5)
    client.force_login(merchant)

    response = client.get(
        reverse("dashboard:recommendations", args=[store.slug]),
        {"run": older.pk},
        headers={"HX-Request": "true"},
    )

    page = response.content.decode()
    assert page.lstrip().startswith('<section id="evaluation"')
    assert "<html" not in page
    assert "0.1250" in page and "0.5000" not in page
    assert response["Vary"] == "HX-Request, Cookie"


def test_without_a_run_of_its_own_the_page_shows_the_dataset_run_and_the_command_to_run(
    client: Client, store: Store, merchant: User, save_run: SaveRun
) -> None:
    shop = Shop(store)
    shop.products("tea")
    shop.baskets(["tea"])  # placed 2024-01-01
    dataset_run = save_run(store=None, hit=0.5)
    client.force_login(merchant)

    response = client.get(reverse("dashboard:recommendations", args=[store.slug]))

    assert response.context["run"] == dataset_run
    page = response.content.decode()
    assert "reference dataset" in page
    # The command chooses the cuts from the store's own orders.
    assert "<code>aftersale evaluate --store test-shop</code>" in page


def test_with_no_run_and_no_orders_the_page_says_to_import_the_orders_first(
    client: Client, store: Store, merchant: User
) -> None:
    client.force_login(merchant)
    response = client.get(reverse("dashboard:recommendations", args=[store.slug]))
    page = response.content.decode()
    assert "No evaluation yet" in page
    assert "aftersale import orders FILE.csv --store test-shop" in page


def test_a_runs_chart_is_drawn_as_png(
    client: Client, store: Store, merchant: User, save_run: SaveRun
) -> None:
    run = save_run(store=None, hit=0.5)
    client.force_login(merchant)
    response = client.get(reverse("dashboard:evaluation-chart", args=[store.slug, run.pk]))
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("path", ["dashboard/dashboard.css", "django_htmx/htmx-2.min.js"])
def test_static_files_are_served_with_debug_off_and_may_be_cached(
    client: Client, path: str
) -> None:
    response = client.get(f"/static/{path}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert "max-age=" in response["Cache-Control"]  # whitenoise, not Django's debug view


def test_a_path_outside_the_static_folders_is_not_served(client: Client) -> None:
    assert client.get("/static/../settings.py").status_code == 404
    assert client.get("/static/aftersale/settings.py").status_code == 404


_HUNGRY = Method("mlxtend_rules", "baseline", fit_popularity)


def test_a_method_skipped_over_its_budget_shows_the_reason_in_place_of_figures(
    client, merchant, store
):
    report = report_scoring(0.5)
    over = "over the memory budget of 3000 MB"
    rows = [*report.rows, *(skipped_row(method=_HUNGRY, task=t, reason=over) for t in TASKS)]
    save_evaluation(
        report=Report(k=4, rows=rows, comparisons=report.comparisons),
        dataset="gifts.csv",
        store=store,
        cut=dt.date(2024, 11, 1),
        validation_cut=dt.date(2024, 9, 1),
        quick=False,
        seconds=3.0,
        now=RAN_AT,
    )
    client.force_login(merchant)

    page = client.get(reverse("dashboard:recommendations", args=[store.slug])).content.decode()

    assert page.count(f'<td colspan="7" class="skipped">Skipped: {over}</td>') == 2
