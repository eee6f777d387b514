"""The webhook endpoint every platform posts to: POST /webhooks/<platform>/<store slug>/.
Thin: the request's raw body and headers go to deliveries.receive_webhook, whose answer
is returned in JSON. Nothing is processed here: a worker does it."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aftersale.integrations.platforms.deliveries import receive_webhook
from aftersale.lib import clock


@csrf_exempt
@require_POST
def platform_webhook(request: HttpRequest, platform: str, store_slug: str) -> JsonResponse:
    """Receive one webhook of `platform` for the store `store_slug`."""
    received = receive_webhook(
        platform=platform,
        store_slug=store_slug,
        body=request.body,
        headers=request.headers,
        now=clock.now(),
    )
    content: dict[str, object] = {"detail": received.detail}
    if received.delivery is not None:
        content["delivery"] = received.delivery.pk
    return JsonResponse(content, status=int(received.answer))
