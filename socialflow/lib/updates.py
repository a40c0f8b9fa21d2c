"""One way to apply a partial update to a model instance (HackSoft's `model_update`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


def model_update(
    *, instance: M, fields: Iterable[str], data: Mapping[str, Any], save: bool = True
) -> tuple[M, list[str]]:
    """Set each of `fields` present in `data` on `instance`; save only what changed (with
    `updated_at` when the model has one). Returns the instance and the changed fields.
    `data` is validated already: this is the write, not the check."""
    changed = []
    for name in fields:
        if name in data and getattr(instance, name) != data[name]:
            setattr(instance, name, data[name])
            changed.append(name)
    if changed and save:
        has_updated_at = any(f.name == "updated_at" for f in instance._meta.concrete_fields)
        instance.save(update_fields=[*changed, "updated_at"] if has_updated_at else changed)
    return instance, changed
