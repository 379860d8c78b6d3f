"""Run a trading node, or its kill switch, from a validated config file.

`atb live`, `atb paper --config` and `atb kill` call these; tests call them too, in a
subprocess when a real crash is the point. Live mode trades on the configured exchange through
ccxt; paper mode reads the same exchange's public market data and trades on `PaperExchange`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from atb.domain import Instrument
from atb.domain.ids import InstrumentId
from atb.errors import UserInputError
from atb.node.config import NodeConfig
from atb.node.exchange import ExchangeClient
from atb.node.kill import KillReport, execute_kill
from atb.node.live import FeedFactory, LiveNode, NodeSettings, NodeSummary
from atb.node.live_feed import AlignedBarFeed, LiveBar
from atb.node.persistence import NodeStore
from atb.node.stream_feed import bar_feed, pro_exchange
from atb.strategy.base import Strategy
from atb.strategy.registry import resolve

Mode = Literal["live", "paper"]
_log = logging.getLogger("atb.node")


@dataclass
class OpenedStore:
    store: NodeStore
    previous_status: str | None
    engine: Any
    instruments: dict[InstrumentId, Instrument]
    """What the order repository rebuilds orders with; filled once the venue's markets are loaded."""

    def learn(self, instruments: Mapping[str, Instrument]) -> None:
        self.instruments.update({InstrumentId(s): i for s, i in instruments.items()})

    def close(self) -> None:
        self.engine.dispose()


def build_strategy(config: NodeConfig) -> Strategy:
    cls = resolve(config.node.strategy)
    pairs = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in config.node.params.items()}
    return cls(**cls.parse_params(pairs))


def open_store(config: NodeConfig, mode: Mode, *, create: bool = True) -> OpenedStore:
    """Migrate the database, then start the run or resume it (a halted run is refused)."""
    from atb.store import OrderRepository, RunRepository, StoreError, make_engine, session_scope, upgrade
    from atb.store.run_state import resume_run, run_status

    engine = make_engine(config.node.database)
    upgrade(engine)
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(engine, expire_on_commit=False)
    name = config.node.name
    previous: str | None = None
    with session_scope(sessions) as session:
        status = run_status(session, name)
        if status is None:
            if not create:
                engine.dispose()
                raise UserInputError(f"no run named {name!r} in {config.node.database}")
            RunRepository.start(
                session, mode=mode, strategy=config.node.strategy, params=config.node.params, run_id=name
            )
        elif create:
            try:
                previous = resume_run(session, name, actor=f"atb {mode}").value
            except StoreError as exc:
                engine.dispose()
                raise UserInputError(str(exc)) from None
        else:
            previous = status.value
    lookup: dict[InstrumentId, Instrument] = {}
    store = NodeStore(sessions, name, OrderRepository(lookup), actor=f"atb {mode}")
    return OpenedStore(store, previous, engine, lookup)


def venue_for(config: NodeConfig, *, with_keys: bool) -> ExchangeClient:
    from atb.venues.ccxt_venue import CcxtVenue

    api_key, secret = credentials(config) if with_keys else (None, None)
    return CcxtVenue(
        config.venue.exchange,
        api_key=api_key,
        secret=secret,
        urls=config.venue.urls or None,
        options=config.venue.options or None,
        config={"timeout": config.venue.timeout_ms}
        | ({"rateLimit": config.venue.rate_limit_ms} if config.venue.rate_limit_ms else {}),
    )


def credentials(config: NodeConfig) -> tuple[str, str]:
    """The API key and secret from the environment, or one clear error before anything is touched."""
    api_key, secret = config.venue.credentials()
    if not api_key or not secret:
        raise UserInputError(
            f"live trading needs the API key and secret in ${config.venue.api_key_env} and ${config.venue.secret_env}"
        )
    return api_key, secret


async def exchange_for(config: NodeConfig, mode: Mode) -> ExchangeClient:
    """The venue to trade on: the real account (live) or a paper account fed by the venue's public data."""
    venue = venue_for(config, with_keys=mode == "live")
    if mode == "live":
        return venue
    from atb.engine.execution import ExecutionConfig, FillTiming, parse_slippage
    from atb.node.paper_exchange import PaperExchange

    try:
        instruments = await venue.load_instruments()
    except Exception:
        await venue.close()
        raise
    chosen = {s: instruments[s] for s in config.node.symbols if s in instruments}
    if config.paper.commission is not None:
        from dataclasses import replace

        from atb.domain.instrument import FeeRate

        rate = FeeRate.of(config.paper.commission)
        chosen = {s: replace(i, maker_fee=rate, taker_fee=rate) for s, i in chosen.items()}
    execution = ExecutionConfig(fill=FillTiming(config.paper.fill), slippage=parse_slippage(config.paper.slippage))
    return PaperExchange(chosen, config.node.cash, data=venue, execution=execution)


def feed_factory(config: NodeConfig, source: Any, streams: list[Any]) -> FeedFactory:
    """One feed per symbol (websocket when `venue.stream`, else REST polling), aligned on timestamps.

    Streaming clients are appended to `streams` so the caller closes them with the venue.
    """

    def make(since_ms: int | None) -> AsyncIterable[Mapping[str, LiveBar]]:
        client = stream_client(config) if config.venue.stream else None
        if client is not None:
            streams.append(client)
        feeds = [
            bar_feed(client or source, symbol, config.node.timeframe, stream=config.venue.stream, rest=source,
                     since_ms=since_ms, poll_seconds=config.venue.poll_seconds)
            for symbol in config.node.symbols
        ]  # fmt: skip
        return AlignedBarFeed(feeds)

    return make


def stream_client(config: NodeConfig) -> Any:
    """A ccxt.pro client for public bars, on the configured (or test) URLs, spot only."""
    from atb.venues.ccxt_client import SPOT_OPTIONS

    client = pro_exchange(
        config.venue.exchange,
        {"options": dict(SPOT_OPTIONS) | config.venue.options, "timeout": config.venue.timeout_ms},
    )
    api = client.urls["api"]
    for key, url in config.venue.urls.items():
        api[key] = url
    if config.venue.ws_urls:
        api["ws"] = dict(api.get("ws") or {}) | config.venue.ws_urls
    return client


def settings_for(config: NodeConfig) -> NodeSettings:
    node = config.node
    return NodeSettings(
        symbols=tuple(node.symbols),
        timeframe=node.timeframe,
        cash=node.cash,
        warmup_bars=node.warmup_bars,
        sync_seconds=node.sync_seconds,
        on_stop_orders=node.on_stop,
        max_bars=node.max_bars,
    )


@dataclass
class BuiltNode:
    """A wired node and what must be closed after it: its feeds' websocket clients, venue, database."""

    node: LiveNode
    opened: OpenedStore
    streams: list[Any]

    async def run(self) -> NodeSummary:
        """Run the node, then close its feeds, venue connection and database engine whatever happens."""
        try:
            return await self.node.run()
        finally:
            for client in self.streams:
                await client.close()
            await self.node.exchange.close()
            self.opened.close()


async def build_node(config: NodeConfig, mode: Mode, *, node_class: type[LiveNode] = LiveNode) -> BuiltNode:
    """Open the run in the database, connect the venue (paper: public data only) and wire the node.

    `atb live`/`atb paper --config` run it at once; `atb serve` builds it first to hand it to the
    API, with a `node_class` that leaves the stop signals to the web server.
    """
    strategy = build_strategy(config)
    if mode == "live":
        credentials(config)
    opened = open_store(config, mode)
    try:
        if opened.previous_status == "running":
            _log.warning("run %s did not stop cleanly last time; reconciling with the venue", config.node.name)
        exchange = await exchange_for(config, mode)
    except BaseException:
        opened.close()
        raise
    streams: list[Any] = []
    try:
        opened.learn(await exchange.load_instruments())
        source = getattr(exchange, "_data", None) or exchange
        feed = feed_factory(config, source, streams)
        node = node_class(strategy, exchange, opened.store, feed, settings_for(config), risk=config.risk)
    except BaseException:
        await exchange.close()
        opened.close()
        raise
    return BuiltNode(node, opened, streams)


async def run_node(config: NodeConfig, mode: Mode) -> NodeSummary:
    """Run the node until stopped (SIGINT/SIGTERM), halted, or `max_bars` live bars."""
    built = await build_node(config, mode)
    return await built.run()


async def kill_run(config: NodeConfig, reason: str, *, flatten: bool = True) -> KillReport:
    """`atb kill`: halt the run in the database, cancel its open orders at the venue, go flat.

    The run is opened as the node opens it (ledger from the stored fills, reconciled with the venue),
    so the kill switch's orders take the node's order path and continue its client order ids.
    """
    credentials(config)
    opened = open_store(config, "live", create=False)
    venue = venue_for(config, with_keys=True)
    try:
        opened.learn(await venue.load_instruments())
        node = LiveNode(
            build_strategy(config), venue, opened.store, feed_factory(config, venue, []), settings_for(config),
            risk=config.risk,
        )  # fmt: skip
        router = await node.open_run()
        return await execute_kill(router, opened.store, reason, actor="atb kill", flatten=flatten)
    finally:
        await venue.close()
        opened.close()


def reset_halt(config: NodeConfig) -> None:
    from atb.store import StoreError, session_scope
    from atb.store.run_state import reset_halt as reset

    opened = open_store(config, "live", create=False)
    try:
        with session_scope(opened.store.sessions) as session:
            try:
                reset(session, config.node.name, actor="atb kill --reset")
            except StoreError as exc:
                raise UserInputError(str(exc)) from None
    finally:
        opened.close()
