"""One JSON request over HTTP for the webhook-style channels (Discord, Teams, Mastodon's fallbacks).

Every failure becomes one :class:`SendError` line that never contains the URL (webhook URLs are
secrets: the token is in the path) nor the exception text of the HTTP library (which quotes it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import SendError, retry_after_seconds

if TYPE_CHECKING:
    import requests


def session() -> requests.Session:
    """A session that never retries by itself (the engine's budget does) and ignores ``~/.netrc``."""
    import requests
    from requests.adapters import HTTPAdapter

    http = requests.Session()
    http.trust_env = False
    http.mount("http://", HTTPAdapter(max_retries=0))
    http.mount("https://", HTTPAdapter(max_retries=0))
    return http


def send_json(
    http: requests.Session,
    method: str,
    url: str,
    *,
    channel: str,
    what: str,
    body: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> requests.Response:
    """Send one request; return the response when it is 2xx or 4xx (the caller explains those).

    Connection errors and timeouts are retryable and *maybe sent* (the remote may have acted);
    5xx is retryable; 429 is retryable after ``retry_after`` (JSON body) or ``Retry-After``.
    ``timeout`` is the run's retry policy's request timeout (``ConnectContext.retry.timeout``).
    """
    import requests

    try:
        response = http.request(method, url, json=body, params=params, headers=headers, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SendError(
            f"{channel}: cannot reach {what} ({type(exc).__name__}): check the network",
            retry_after=0.0,
            maybe_sent=maybe_sent(exc),
        ) from None
    except requests.RequestException as exc:
        raise SendError(f"{channel}: request failed: {type(exc).__name__}", retry_after=0.0, maybe_sent=True) from None
    status = response.status_code
    if status == 429:
        raise SendError(f"{channel}: rate limited (429)", retry_after=_rate_limit_wait(response))
    if status >= 500:
        raise SendError(f"{channel}: server error {status}", retry_after=0.0)
    return response


def maybe_sent(exc: Exception) -> bool:
    """Whether the request may have reached the remote: not when the connection was never made
    (refused, a name that does not resolve, a connect timeout); yes after it was (a read timeout, a
    connection dropped before the answer)."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError carries the cause
    return not isinstance(reason, NewConnectionError)


def _rate_limit_wait(response: requests.Response) -> float:
    """Discord puts ``retry_after`` (seconds, fractional) in the JSON body; others use headers."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        value = data.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return retry_after_seconds(response.headers)


def json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def one_line(text: str, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]
