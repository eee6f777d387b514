"""/healthz and /readyz: JSON answers for probes, no session, no personal data."""

from django.http import HttpRequest, JsonResponse
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
