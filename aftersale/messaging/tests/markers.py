"""Marks for the messaging tests."""

import pytest

from aftersale.messaging.rendering.render import compiled_emails

# A test about compiled forms themselves (shapes.py): skipped where none are made.
compiled_only = pytest.mark.skipif(
    not compiled_emails(),
    reason="compiled emails are off (AFTERSALE_COMPILED_EMAILS=false, or a Jinja2 other "
    "than the one shapes.FusedOutput was written for): no compiled forms are made",
)
