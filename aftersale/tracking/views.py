"""Public endpoints reached from emails: click redirect, open pixel, unsubscribe page,
the "Was this helpful?" page of a pick.
Every one takes a signed token; a token this installation did not sign is a 404."""

from __future__ import annotations

import base64

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from aftersale.catalog.models import Product
from aftersale.lib import clock
from aftersale.messaging.models import Message
from aftersale.messaging.rendering.links import (
    click_from_token,
    message_id_from_open_token,
    message_id_from_token,
)
from aftersale.recommendations.links import answer_from_token
from aftersale.recommendations.services import record_feedback
from aftersale.tracking import selectors, services

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Every fetch must reach us, or repeat opens from another device would hide in caches.
_NO_CACHE = "no-store, no-cache, must-revalidate, max-age=0"


@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Record the first click (a GET) on the token's link, then 302 to the URL recorded
    for that link of that message, and nowhere else."""
    message_id, index = click_from_token(token) or (None, -1)
    message = _message(message_id)
    url = selectors.click_destination(message=message, index=index)
    if url is None:
        raise Http404("no such link")
    if request.method == "GET":  # link checkers probe with HEAD: that is not a click
        services.record_click(message=message, index=index, url=url, now=clock.now())
    return HttpResponseRedirect(url)


@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """Record an open (a GET) of the token's message and answer a 1x1 transparent GIF."""
    message = _message(message_id_from_open_token(token))
    user_agent = request.headers.get("User-Agent", "")
    if request.method == "GET":  # a HEAD fetches no image, so nobody saw it
        services.record_open(message=message, user_agent=user_agent, now=clock.now())
    response = HttpResponse(_PIXEL, content_type="image/gif")
    response["Cache-Control"] = _NO_CACHE
    return response


# Exempt from CSRF on purpose: RFC 8058 one-click unsubscribe is a POST that the mail
# client sends itself, without a browser, a session or a form token. The signed token
# in the URL is what proves the request comes from the email; GET never unsubscribes,
# so link scanners that follow URLs change nothing.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page asking to confirm. POST carrying `List-Unsubscribe=One-Click` (a mail
    client's one-click request, RFC 8058, or the page's own button): unsubscribe the
    recipient and say so. Any other POST is refused with 400 and changes nothing."""
    message = _message(message_id_from_token(token))
    if request.method == "POST":
        if request.POST.get("List-Unsubscribe") != "One-Click":
            return HttpResponseBadRequest(
                "An unsubscribe POST carries List-Unsubscribe=One-Click (RFC 8058).",
                content_type="text/plain",
            )
        services.unsubscribe_recipient(message=message, now=clock.now())
    context = {"store": message.store, "email": message.to_email, "done": request.method == "POST"}
    return render(request, "tracking/unsubscribe.html", context)


def _message(message_id: int | None) -> Message:
    message = selectors.tracked_message(message_id=message_id) if message_id else None
    if message is None:
        raise Http404("no such message")
    return message


@require_http_methods(["GET", "POST"])
def feedback(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page asking to confirm the answer the link stands for; link scanners that
    fetch every URL in an email record nothing. POST (the page's button): record it."""
    answer = answer_from_token(token)
    message = selectors.tracked_message(message_id=answer.message_id) if answer else None
    product = (
        Product.objects.filter(pk=answer.product_id, store_id=message.store_id).first()
        if answer and message and _recommended(message, answer.product_id)
        else None
    )
    if answer is None or message is None or product is None:
        raise Http404("no such recommendation")
    done = request.method == "POST"
    if done:
        try:
            record_feedback(
                message=message, product_id=product.pk, helpful=answer.helpful, now=clock.now()
            )
        except ValueError as error:
            raise Http404("no such recommendation") from error
    context = {"store": message.store, "product": product, "helpful": answer.helpful, "done": done}
    return render(request, "tracking/feedback.html", context)


def _recommended(message: Message, product_id: int) -> bool:
    # The token signs only the message: a product it did not recommend is not found.
    picks = message.recommendations if isinstance(message.recommendations, list) else []
    return any(isinstance(p, dict) and p.get("product_id") == product_id for p in picks)
