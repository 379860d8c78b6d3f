"""Built-in strategies, registered by name for `atb backtest --strategy NAME`."""
