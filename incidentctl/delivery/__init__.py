"""Delivery: plan what each channel gets (:mod:`.plan`), send it (:mod:`.engine`), record it (:mod:`.ledger`)."""

from __future__ import annotations

from ..channels.base import Preview
from .engine import PublishReport, publish
from .ledger import DeliveryResult
from .plan import preview

__all__ = ["DeliveryResult", "Preview", "PublishReport", "preview", "publish"]
