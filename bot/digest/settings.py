"""When the weekly manager digest goes out, how far back it looks, and its output formats."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DigestFormat = Literal["md", "png"]
FORMATS: tuple[DigestFormat, ...] = ("md", "png")


class DigestSettings(BaseModel):
    """When the digest goes out and how far back its trends look."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Send the weekly manager digest at all.")
    weekday: int = Field(default=0, ge=0, le=6, description="Local weekday it is sent, Monday=0.")
    send_time: time = Field(default=time(9, 0), description="Local time it is sent from (then in working hours).")
    catch_up_hours: float = Field(
        default=48, gt=0, description="Hours after the send time a missed digest (an outage) is still sent."
    )
    weeks: int = Field(default=8, ge=2, le=26, description="Weeks the trends and the chart cover.")
    overdue_listed: int = Field(default=5, ge=1, le=20, description="Overdue requests named before '…and N more'.")


DEFAULT_DIGEST = DigestSettings()
