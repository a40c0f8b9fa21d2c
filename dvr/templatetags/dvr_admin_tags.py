"""Storage used, site-wide, on the admin's front page (templates/admin/index.html)."""

from __future__ import annotations

from typing import Any

from django import template

from dvr.selectors import site_storage_use

register = template.Library()


@register.inclusion_tag("dvr/_site_storage.html")
def site_storage() -> dict[str, Any]:
    return {"use": site_storage_use()}
