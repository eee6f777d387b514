"""Names the reports' hand-written SQL takes from the models, so a renamed column breaks
a test, not a report."""

from django.db.models import Field, Model


def column_of(model: type[Model], name: str) -> str:
    """The database column of `model`'s field `name`."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return str(field.column)
