"""DON limits that users screen against, and the verdict of a prediction interval against one of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BELOW, INCONCLUSIVE, ABOVE = "below", "inconclusive", "above"


@dataclass(frozen=True)
class Limit:
    key: str
    name: str
    ppb: float
    source: str

    @property
    def label(self) -> str:
        return f"{self.name}: {self.ppb:,.0f} ppb ({self.ppb / 1000:g} ppm)"


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
DEFAULT_LIMIT = "fda-1ppm"


def get_limit(key: str) -> Limit:
    for limit in LIMITS:
        if limit.key == key:
            return limit
    raise ValueError(f"unknown limit {key!r}; choose one of {', '.join(limit.key for limit in LIMITS)}")


def verdicts(low_ppb: np.ndarray, high_ppb: np.ndarray, in_domain: np.ndarray, limit_ppb: float) -> np.ndarray:
    """'below' when the whole interval is under the limit, 'above' when it is all over it, else 'inconclusive'.

    A spectrum outside the calibration domain is always inconclusive: its interval cannot be trusted.
    Rows that were not scored (NaN) get an empty verdict.
    """
    low, high = np.asarray(low_ppb, float), np.asarray(high_ppb, float)
    out = np.full(len(low), INCONCLUSIVE, dtype=object)
    trusted = np.asarray(in_domain, bool)
    out[trusted & (high < limit_ppb)] = BELOW
    out[trusted & (low > limit_ppb)] = ABOVE
    out[np.isnan(low) | np.isnan(high)] = ""
    return out
