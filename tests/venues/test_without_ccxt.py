"""The breaker and retries must import cheaply and work where ccxt is not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False)


def test_importing_the_resilience_modules_does_not_import_ccxt() -> None:
    proc = run_python(
        """
        import sys
        import atb.venues.resilience
        assert "ccxt" not in sys.modules, "ccxt was imported"
        """
    )
    assert proc.returncode == 0, proc.stderr


def test_breaker_and_retry_work_when_ccxt_is_missing() -> None:
    proc = run_python(
        """
        import sys
        sys.modules["ccxt"] = None  # makes `import ccxt` fail like a missing package
        from atb.venues.resilience import CircuitBreaker, VenueErrorKind, classify, retry_idempotent

        errors = [TimeoutError(), ConnectionResetError()]
        def fetch_balance():
            if errors:
                raise errors.pop(0)
            return "ok"
        slept = []
        assert retry_idempotent(fetch_balance, sleep=slept.append, jitter=False) == "ok"
        assert slept == [0.2, 0.4]
        assert classify(ValueError()) is VenueErrorKind.UNCLASSIFIED

        breaker = CircuitBreaker("x", window=2, minimum_calls=2)
        def down():
            raise TimeoutError()
        for _ in range(2):
            try:
                breaker.call(down)
            except TimeoutError:
                pass
        assert breaker.state.value == "open"
        print("fine")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fine"
