"""In-process event stream of a node: fills, order updates, equity, status — for the API's websocket.

Publishing never blocks the trading loop: each subscriber has a bounded queue, and a subscriber
that falls behind loses its oldest events (and is told how many with a `dropped` event) rather
than slowing the node down.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

Event = dict[str, Any]


class EventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._subscribers: list[asyncio.Queue[Event]] = []
        self.published = 0

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self.queue_size)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue `{"type": kind, "ts": <epoch s>, **payload}` for every subscriber (call from the loop's thread)."""
        event: Event = {"type": kind, "ts": time.time(), **payload}
        self.published += 1
        for queue in self._subscribers:
            if queue.full():
                dropped = 0
                while queue.qsize() > self.queue_size // 2:
                    queue.get_nowait()
                    dropped += 1
                queue.put_nowait({"type": "dropped", "ts": event["ts"], "count": dropped})
            queue.put_nowait(event)
