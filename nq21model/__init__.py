"""nq21model: local party members per village cell, forecast against the targets
of the Lai Châu action programme for Resolution 21-NQ/TW."""
from __future__ import annotations

__version__ = "0.1.0"
