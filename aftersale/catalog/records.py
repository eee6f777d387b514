"""Normalized product data, as every source (CSV, API, platform webhooks) delivers it."""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ProductRecord:
    external_id: str
    name: str
    category: str = ""
    department: str = ""
    brand: str = ""
    price: Decimal | None = None
    stock: int | None = None
    image_url: str = ""
    url: str = ""
