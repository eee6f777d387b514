"""The shipped template library (library/templates.json and the files it names), read
into the fields of EmailTemplate rows: each entry with its own text in English and
translations with their own subject, preheader and body file ("thank-you.de.mjml.j2")."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aftersale.messaging.models import EmailTemplate
from aftersale.stores.models import Store

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
LIBRARY_LOCALE = "en"


@dataclass(frozen=True)
class LibraryTemplate:
    """One ready template as the library ships it."""

    slug: str
    name: str
    kind: str
    subject: str
    preheader: str
    body_mjml: str
    locale: str = LIBRARY_LOCALE
    translations: dict[str, dict[str, str]] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """The EmailTemplate fields this entry fills (all but store and updated_at)."""
        return {
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "subject": self.subject,
            "preheader": self.preheader,
            "body_mjml": self.body_mjml,
            "locale": self.locale,
            "translations": self.translations,
        }


def library_templates() -> list[LibraryTemplate]:
    """Every template of the library, in library order, with body files read."""
    entries = json.loads((LIBRARY_DIR / "templates.json").read_text(encoding="utf-8"))
    return [_template(entry) for entry in entries]


def library_template(slug: str) -> LibraryTemplate | None:
    """The library's template `slug`, or None."""
    return next((t for t in library_templates() if t.slug == slug), None)


def _template(entry: dict[str, Any]) -> LibraryTemplate:
    return LibraryTemplate(
        slug=entry["slug"],
        name=entry["name"],
        kind=entry["kind"],
        subject=entry["subject"],
        preheader=entry["preheader"],
        body_mjml=_read(entry["body"]),
        translations={
            locale: {
                "subject": text["subject"],
                "preheader": text["preheader"],
                "body_mjml": _read(text["body"]),
            }
            for locale, text in entry.get("translations", {}).items()
        },
    )


def _read(name: str) -> str:
    return (LIBRARY_DIR / name).read_text(encoding="utf-8")


def install_default_templates(*, store: Store, now: dt.datetime) -> list[EmailTemplate]:
    """Give `store` every template of the shipped library it does not have yet and return
    the store's library templates in library order. Templates whose slug the store
    already has are left untouched, so running it again changes nothing."""
    existing = {t.slug: t for t in EmailTemplate.objects.filter(store=store)}
    installed = []
    for entry in library_templates():
        template = existing.get(entry.slug) or EmailTemplate.objects.create(
            store=store, updated_at=now, **entry.fields()
        )
        installed.append(template)
    return installed
