"""REST API, websocket and web dashboard of a node (`atb serve`); tokens (`atb token`).

Needs the `api` extra: importing any module here without FastAPI installed raises a
`MissingExtraError` naming the pip command, instead of an ImportError from somewhere inside.
"""

from atb.errors import MissingExtraError

try:
    import fastapi  # noqa: F401  (only checked for here)
except ImportError as exc:
    raise MissingExtraError("the REST API", "api", "fastapi") from exc
