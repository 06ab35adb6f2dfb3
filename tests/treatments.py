"""Treatment entries the mechanism tests give, as scenario mappings (one definition each)."""

from __future__ import annotations


def pembrolizumab(day: float = 0.0) -> dict:
    """One 200 mg dose of pembrolizumab on ``day``."""
    return {
        "type": "checkpoint_inhibitor",
        "drug": "pembrolizumab",
        "dose": {"value": 200, "unit": "mg"},
        "schedule": {"start_day": day},
    }
