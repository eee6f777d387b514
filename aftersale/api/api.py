from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from aftersale.api.ingest import router as ingest_router

api = NinjaAPI(title="Aftersale API", version="1")
api.add_router("/", ingest_router)


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 in JSON, as every other API error."""
    return api.create_response(
        request, {"detail": "request body too large: send fewer records per request"}, status=413
    )
