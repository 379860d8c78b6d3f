"""The asyncio node: drives a strategy bar by bar from a feed (paper trading; live later)."""

from atb.node.feeds import Feed, ReplayFeed
from atb.node.paper import PaperNode

__all__ = ["Feed", "PaperNode", "ReplayFeed"]
