"""Generated bad requests to every public endpoint an email links to (click, open pixel,
unsubscribe, pick feedback, countdown image) and to the dashboard's sign-in: real tokens
with one character changed, tokens of another kind, random text, odd methods and bodies.
None is a server error, and a token this installation did not sign changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from aftersale.customers.models import Customer
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message, Suppression
from aftersale.messaging.rendering.links import (
    click_from_token,
    click_token,
    message_id_from_open_token,
    message_id_from_token,
    open_token,
    unsubscribe_token,
)
from aftersale.messaging.tests.factories import Scenario, make_scenario
from aftersale.recommendations.links import answer_from_token, feedback_token
from aftersale.recommendations.models import RecommendationFeedback
from aftersale.stores.models import Store
from aftersale.tracking.models import Event
from aftersale.tracking.tests.helpers import PUBLIC

# Each endpoint: its path for a token, and whether this installation signed the token.
ENDPOINTS: dict[str, tuple[str, Callable[[str], object]]] = {
    "click": ("/c/{}/", click_from_token),
    "open": ("/o/{}.gif", message_id_from_open_token),
    "unsubscribe": ("/u/{}/", message_id_from_token),
    "feedback": ("/f/{}/", answer_from_token),
    "countdown": ("/i/countdown/{}.png", lambda token: None),
}
BODIES = st.one_of(
    st.just({"List-Unsubscribe": "One-Click"}),
    st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=3),
    st.binary(max_size=200),
)
settings_for_requests = examples(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Anything a URL path segment can hold once encoded: no lone surrogates, no / ? #.
TOKEN_CHARACTERS = st.characters(
    categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Co", "Cn"], exclude_characters="/?#"
)
URL_TEXT = st.text(TOKEN_CHARACTERS, min_size=1)


def _real_tokens(scenario: Scenario, *, now: dt.datetime) -> list[str]:
    message = scenario.message("thank-you", now=now)
    return [
        click_token(message.pk, 0),
        open_token(message.pk),
        unsubscribe_token(message.pk),
        feedback_token(message.pk, scenario.picks[0].pk, helpful=False),
    ]


@st.composite
def altered(draw: st.DrawFn, tokens: list[str]) -> str:
    """A real token with one character changed, cut short or lengthened."""
    token = draw(st.sampled_from(tokens))
    at = draw(st.integers(0, len(token) - 1))
    change = draw(st.sampled_from(["swap", "cut", "grow"]))
    if change == "cut":
        return token[:at] or "x"
    if change == "grow":
        return token + draw(URL_TEXT)
    replacement = draw(TOKEN_CHARACTERS)
    return token[:at] + replacement + token[at + 1 :]


def _state() -> tuple[object, ...]:
    return (
        Event.objects.count(),
        Suppression.objects.count(),
        RecommendationFeedback.objects.count(),
        sorted(Customer.objects.values_list("id", "accepts_marketing")),
        sorted(Message.objects.values_list("id", "status")),
    )


@pytest.mark.django_db
def test_generated_bad_requests_to_the_public_endpoints_never_fail_or_change_anything(
    store: Store, clock: VirtualClock, settings: Settings
) -> None:
    settings.PUBLIC_URL = PUBLIC
    scenario = make_scenario(store, now=clock.now())
    tokens = _real_tokens(scenario, now=clock.now())
    client = Client(raise_request_exception=False)
    seen = 0

    @settings_for_requests
    @given(
        endpoint=st.sampled_from(sorted(ENDPOINTS)),
        token=st.one_of(altered(tokens), st.sampled_from(tokens), URL_TEXT),
        method=st.sampled_from(["get", "post", "head", "put", "delete", "options"]),
        body=BODIES,
    )
    def request_once(endpoint: str, token: str, method: str, body: object) -> None:
        nonlocal seen
        path, signed_here = ENDPOINTS[endpoint]
        # Only the token's own endpoint may act on a real token: another endpoint must
        # refuse it like any other text.
        acts = signed_here(token) is not None and method in ("get", "post")
        before = _state()
        if isinstance(body, bytes) and method in ("get", "head"):
            answer = getattr(client, method)(path.format(token))
        elif isinstance(body, bytes):
            answer = getattr(client, method)(
                path.format(token), body, content_type="application/octet-stream"
            )
        else:
            answer = getattr(client, method)(path.format(token), body)
        seen += 1
        assert answer.status_code < 500, (endpoint, token, method, answer.status_code)
        if not acts:
            assert _state() == before, (endpoint, token, method)

    request_once()
    assert seen >= 500


@pytest.mark.django_db
def test_generated_bad_sign_ins_are_refused_without_a_server_error(store: Store) -> None:
    client = Client(raise_request_exception=False)
    seen = 0

    @examples(max_examples=100, deadline=None)
    @given(
        form=st.dictionaries(
            st.sampled_from(["username", "password", "next", "csrfmiddlewaretoken", "x"]),
            st.text(max_size=300),
            max_size=5,
        )
    )
    def sign_in_once(form: dict[str, str]) -> None:
        nonlocal seen
        answer = client.post("/dashboard/login/", form)
        seen += 1
        assert answer.status_code < 500, (form, answer.status_code)
        assert "_auth_user_id" not in client.session

    sign_in_once()
    assert seen == 100
