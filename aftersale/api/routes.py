"""The one router every endpoint module adds its operations to: Django Ninja answers a
path from one router only, so GET and POST /products (or GET and DELETE
/customers/{id}) must share it. Each operation carries its module's tag."""

from ninja import Router

from aftersale.api.auth import STORE_KEY

router = Router(auth=STORE_KEY)
