"""/healthz and /readyz: JSON answers for probes, no session, no personal data; /metrics
for Prometheus, behind a bearer token."""

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from aftersale.production.health import readiness


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers HTTP (nothing else is checked)."""
    return JsonResponse({"status": "alive"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready (200) or not (503), with each check's answer (production.health)."""
    result = readiness()
    return JsonResponse(
        {"status": "ready" if result.ready else "not ready", "checks": result.checks},
        status=200 if result.ready else 503,
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The installation's figures in Prometheus's text format (production.metrics), to a
    request carrying `Authorization: Bearer <AFTERSALE_METRICS_TOKEN>`; 401 to any other,
    404 when no token is configured."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from aftersale.production.metrics import metrics_registry

    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are off: set AFTERSALE_METRICS_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(given.encode(), token.encode()):
        refused = HttpResponse("a bearer token is required\n", status=401)
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
