"""The "Was this helpful?" page a pick's feedback link opens."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from aftersale.catalog.models import Product
from aftersale.lib import clock
from aftersale.messaging.models import Message
from aftersale.recommendations.links import answer_from_token
from aftersale.recommendations.services import record_feedback


@require_http_methods(["GET", "POST"])
def feedback(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page asking to confirm the answer the link stands for; link scanners that
    fetch every URL in an email record nothing. POST (the page's button): record it."""
    answer = answer_from_token(token)
    message = Message.objects.filter(pk=answer.message_id).first() if answer else None
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
    return render(request, "recommendations/feedback.html", context)


def _recommended(message: Message, product_id: int) -> bool:
    # The token signs only the message: a product it did not recommend is not found.
    picks = message.recommendations if isinstance(message.recommendations, list) else []
    return any(isinstance(p, dict) and p.get("product_id") == product_id for p in picks)
