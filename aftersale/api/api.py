import json
from typing import Any, NoReturn, cast

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.parser import Parser

from aftersale.api import (
    backtests,
    coupons,
    customer_data,
    evaluation_runs,
    flows,
    ingest,
    records,
    store_report,
    templates,
)
from aftersale.api.errors import ApiError
from aftersale.api.routes import router


def _not_json(constant: str) -> NoReturn:
    # Python's json reads these, but they are not JSON, and no column stores them.
    raise ValueError(f"{constant} is not a JSON value")


class StrictJsonParser(Parser):
    """JSON as RFC 8259 defines it: NaN, Infinity and -Infinity are refused."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        """The request's body as JSON; ValueError when it is not JSON."""
        return cast(dict[str, Any], json.loads(request.body, parse_constant=_not_json))


api = NinjaAPI(title="Aftersale API", version="1", parser=StrictJsonParser())
# Importing the endpoint modules adds their operations to the router.
ENDPOINT_MODULES = (
    ingest,
    records,
    customer_data,
    flows,
    templates,
    evaluation_runs,
    backtests,
    coupons,
    store_report,
)
api.add_router("/", router)


@api.exception_handler(ApiError)
def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    """An endpoint's refusal (404 for an object the store does not have, 409 for a slug
    taken) with the path of the value at fault."""
    return api.create_response(request, exc.body(), status=exc.status)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja's HTTP errors in JSON; a body that does not parse says why and where."""
    detail = str(exc)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        detail = f"{detail}: {exc.__cause__}"
    return api.create_response(request, {"detail": detail}, status=exc.status_code)


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 in JSON, as every other API error."""
    return api.create_response(
        request, {"detail": "request body too large: send fewer records per request"}, status=413
    )
