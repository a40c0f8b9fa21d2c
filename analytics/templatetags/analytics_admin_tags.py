"""Staff-wide numbers on the admin's front page (templates/admin/index.html)."""

from __future__ import annotations

from typing import Any

from django import template

from analytics.selectors import platform_numbers as read_numbers

register = template.Library()


@register.inclusion_tag("analytics/_platform_numbers.html")
def platform_numbers() -> dict[str, Any]:
    return {"numbers": read_numbers()}
