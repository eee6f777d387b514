""" "Was this helpful?": signed links, the confirmation page, and the down-weighting."""

import datetime as dt

import pytest
from django.core import signing

from aftersale.customers.models import Customer
from aftersale.messaging.models import EmailTemplate, Message, TemplateKind
from aftersale.recommendations.links import answer_from_token, feedback_token, feedback_urls
from aftersale.recommendations.models import RecommendationFeedback
from aftersale.recommendations.selectors import recommend
from aftersale.recommendations.services import fit_recommendations, record_feedback
from aftersale.recommendations.tests.conftest import DAY0, Shop

NOW = DAY0 + dt.timedelta(days=7)


@pytest.fixture
def party(shop: Shop) -> Shop:
    """Chips go with salsa, then beer."""
    shop.products("chips", category="snacks")
    shop.products("salsa", category="dips")
    shop.products("beer", category="drinks")
    shop.products("milk", category="dairy")
    shop.baskets(["chips", "salsa"], times=6)
    shop.baskets(["chips", "beer"], times=5)
    shop.baskets(["milk"], times=10)
    fit_recommendations(store=shop.store)
    return shop


def _email(shop: Shop, customer: str, *products: str) -> Message:
    """An email to `customer` (created with an order of chips) showing `products`."""
    if not Customer.objects.filter(store=shop.store, external_id=customer).exists():
        shop.baskets(["chips"], customer=customer, at=DAY0)
    template, _ = EmailTemplate.objects.get_or_create(
        store=shop.store,
        slug="cross-sell",
        defaults={
            "name": "x",
            "kind": TemplateKind.CROSS_SELL,
            "subject": "x",
            "body_mjml": "x",
            "updated_at": DAY0,
        },
    )
    return Message.objects.create(
        store=shop.store,
        customer_id=shop.customer_id(customer),
        template=template,
        idempotency_key=f"{customer}-{Message.objects.count()}",
        to_email=f"{customer}@example.com",
        recommendations=[{"product_id": shop.ids[p], "reason": "r"} for p in products],
        queued_at=DAY0,
        send_after=DAY0,
    )


def _first_pick(shop: Shop, customer: str) -> str:
    picks = recommend(
        store=shop.store,
        customer_id=shop.customer_id(customer),
        basket_product_ids=[shop.ids["chips"]],
        now=NOW,
    )
    return shop.names([picks[0].product_id])[0]


def _reject(shop: Shop, customer: str, product: str) -> None:
    message = _email(shop, customer, product)
    record_feedback(message=message, product_id=shop.ids[product], helpful=False, now=DAY0)


def test_a_rejected_pick_ranks_lower_for_the_customer_who_rejected_it(party):
    _email(party, "ann")
    assert _first_pick(party, "ann") == "salsa"
    _reject(party, "ann", "salsa")
    assert _first_pick(party, "ann") == "beer"
    _email(party, "bob")
    assert _first_pick(party, "bob") == "salsa"  # one rejection by someone else is not enough


def test_a_pick_many_customers_rejected_ranks_lower_for_everyone(party):
    for who in ["r1", "r2", "r3", "r4", "r5", "r6"]:
        _reject(party, who, "salsa")
    _email(party, "new")
    assert _first_pick(party, "new") == "beer"


def test_helpful_answers_outweigh_a_few_rejections(party):
    for who in ["r1", "r2"]:
        _reject(party, who, "salsa")
    for who in ["f1", "f2", "f3", "f4", "f5", "f6"]:
        message = _email(party, who, "salsa")
        record_feedback(message=message, product_id=party.ids["salsa"], helpful=True, now=DAY0)
    _email(party, "new")
    assert _first_pick(party, "new") == "salsa"


def test_the_latest_answer_replaces_the_earlier_one(party):
    message = _email(party, "ann", "salsa")
    record_feedback(message=message, product_id=party.ids["salsa"], helpful=False, now=DAY0)
    record_feedback(message=message, product_id=party.ids["salsa"], helpful=True, now=NOW)
    assert list(RecommendationFeedback.objects.values_list("helpful", flat=True)) == [True]


def test_feedback_on_a_product_the_email_did_not_show_is_refused(party):
    message = _email(party, "ann", "salsa")
    with pytest.raises(ValueError, match="did not recommend"):
        record_feedback(message=message, product_id=party.ids["beer"], helpful=False, now=DAY0)


def test_feedback_urls_carry_a_signed_answer(party, settings):
    settings.PUBLIC_URL = "https://mail.example.com/"
    urls = feedback_urls(41, 7)
    assert urls.helpful.startswith("https://mail.example.com/f/")
    token = urls.not_helpful.removeprefix("https://mail.example.com/f/").rstrip("/")
    answer = answer_from_token(token)
    assert answer is not None and (answer.message_id, answer.product_id, answer.helpful) == (
        41,
        7,
        False,
    )
    assert answer_from_token(token.replace("41", "42")) is None
    # Emails sent before signed each answer on its own: their links still work.
    per_answer = signing.Signer(salt="aftersale.recommendations.feedback").sign("41.7.n")
    assert answer_from_token(per_answer) == answer
    assert answer_from_token(per_answer.replace(".n:", ".y:")) is None


def test_the_link_asks_first_and_the_button_records_the_answer(party, client):
    message = _email(party, "ann", "salsa")
    url = f"/f/{feedback_token(message.pk, party.ids['salsa'], helpful=False)}/"
    page = client.get(url)
    assert page.status_code == 200 and b"Not interested in Salsa?" in page.content
    assert not RecommendationFeedback.objects.exists()  # link scanners change nothing
    done = client.post(url)
    assert done.status_code == 200 and b"fewer products like Salsa" in done.content
    feedback = RecommendationFeedback.objects.get()
    assert (feedback.customer_id, feedback.helpful) == (party.customer_id("ann"), False)


def test_a_forged_or_foreign_link_is_not_found(party, client):
    message = _email(party, "ann", "salsa")
    assert client.get("/f/1.2.n:forged/").status_code == 404
    # The token signs the message, not the product: one the email did not show is
    # neither asked about nor recorded.
    beer = feedback_token(message.pk, party.ids["beer"], helpful=False)
    assert client.get(f"/f/{beer}/").status_code == 404
    assert client.post(f"/f/{beer}/").status_code == 404
    assert not RecommendationFeedback.objects.exists()
