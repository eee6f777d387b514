"""Normalized customer data, as every source delivers it."""

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    external_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    time_zone: str = ""
    accepts_marketing: bool = True
    locale: str = ""
    birthday: dt.date | None = None
