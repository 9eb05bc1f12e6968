"""Query-parameter filters shared by every app's ``FilterSet``.

``UtcDateTimeFilter`` replaces django-filter's ``IsoDateTimeFilter``: it turns the instant into
UTC before it reaches the database. PostgreSQL refuses a timestamp whose UTC offset is 16 hours
or more ("time zone displacement out of range"), while ISO 8601 and Python accept offsets up to
23:59; passed through as given, ``?ends_after=2026-06-01T12:00:00+16:00`` was a 500. An instant
that leaves the representable range once in UTC (year 9999 at -23:00) is a 400.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    default_error_messages = {
        "out_of_range": "This date-time is out of range once converted to UTC.",
    }

    def to_python(self, value: Any) -> dt.datetime | None:
        result: dt.datetime | None = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(dt.UTC)
        except OverflowError as exc:
            raise forms.ValidationError(
                self.error_messages["out_of_range"], code="out_of_range"
            ) from exc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter (any valid offset), compared in UTC."""

    field_class = UtcIsoDateTimeField
