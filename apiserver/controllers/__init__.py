"""Controllers that write EndpointSlices and Endpoints, as API clients of any server (see manager.py)."""

from __future__ import annotations

from apiserver.controllers.client import CallCounts
from apiserver.controllers.manager import CONTROLLERS, ControllerManager, parse_controllers

__all__ = ["CONTROLLERS", "CallCounts", "ControllerManager", "parse_controllers"]
