"""DON limits that users screen against (listed ones, or a value typed in ppb)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB, interval_verdicts

__all__ = ["ABOVE", "BELOW", "DEFAULT_LIMIT", "LIMITS", "SEND_TO_LAB", "Limit", "custom_limit", "get_limit"]


@dataclass(frozen=True)
class Limit:
    key: str
    name: str
    ppb: float
    source: str

    @property
    def label(self) -> str:
        """The value first, so a cut-off label in the sidebar still shows it."""
        return f"{self.ppb:,.0f} ppb ({self.ppb / 1000:g} ppm) · {self.name}"


FDA = "US FDA advisory levels for DON (Guidance for Industry and FDA, 2010)"
EU_FOOD = "Commission Regulation (EU) 2024/1022 (maximum levels of DON in food)"
EU_FEED = "Commission Recommendation 2006/576/EC (guidance values for DON in feed)"

LIMITS = (
    Limit("fda-1ppm", "US FDA: finished wheat products for humans", 1_000, FDA),
    Limit("fda-5ppm", "US FDA: grains and by-products for swine and other animals", 5_000, FDA),
    Limit("fda-10ppm", "US FDA: grains for ruminating beef cattle (> 4 months) and chickens", 10_000, FDA),
    Limit("eu-unprocessed-cereals", "EU: unprocessed cereals", 1_000, EU_FOOD),
    Limit("eu-unprocessed-maize", "EU: unprocessed durum wheat and maize", 1_500, EU_FOOD),
    Limit("eu-cereals-final-consumer", "EU: cereals placed on the market for the final consumer", 750, EU_FOOD),
    Limit("eu-milling-products", "EU: milling products of cereals", 600, EU_FOOD),
    Limit("eu-feed-cereals", "EU feed: cereals and cereal products", 8_000, EU_FEED),
    Limit("eu-feed-maize-byproducts", "EU feed: maize by-products", 12_000, EU_FEED),
    Limit("eu-feed-pigs", "EU feed: complementary and complete feed for pigs", 900, EU_FEED),
)
# Corn is what the app screens: the EU maximum level for unprocessed maize (1,500 µg/kg).
DEFAULT_LIMIT = "eu-unprocessed-maize"
CUSTOM_PREFIX = "custom-"
_CUSTOM = re.compile(r"^(?:custom-)?(\d+(?:\.\d+)?)(?:ppb)?$")


def custom_limit(ppb: float) -> Limit:
    """A limit typed by the user, in ppb."""
    ppb = float(ppb)
    if not np.isfinite(ppb) or ppb <= 0:
        raise ValueError(f"a limit must be a positive number of ppb, got {ppb:g}")
    return Limit(f"{CUSTOM_PREFIX}{ppb:g}ppb", "limit of your own", ppb, "typed by the user")


def get_limit(key: str) -> Limit:
    """A listed limit by its key, or a limit of your own: a number of ppb (`2500`, `custom-2500ppb`)."""
    for limit in LIMITS:
        if limit.key == key:
            return limit
    match = _CUSTOM.match(str(key).strip().lower().replace(",", "").replace("_", ""))
    if match:
        return custom_limit(float(match.group(1)))
    raise ValueError(
        f"unknown limit {key!r}; choose one of {', '.join(limit.key for limit in LIMITS)}, or give a number of ppb"
    )


def verdicts(low_ppb: np.ndarray, high_ppb: np.ndarray, in_domain: np.ndarray, limit_ppb: float) -> np.ndarray:
    """The interval rule (models saved before the screening calibration): 'below' when the whole interval is
    under the limit, 'above' when it is all over it, else 'send_to_lab'; out of domain is always 'send_to_lab';
    rows not scored get an empty verdict. See don_predictor.trust.screening for the calibrated engine."""
    return interval_verdicts(low_ppb, high_ppb, in_domain, limit_ppb).verdict
