"""Peer deployments over HTTP: the :class:`licences.federation.PeerDirectory` behind ``ESIGN_PEERS``.

``HttpPeerDirectory(settings.peers).fetch(region, holder_id)`` asks the peer's
``GET /v1/holders/{holder_id}/licences`` with the bearer token read from the peer's ``token_file``
(at each call, so a rotated token is picked up without a restart). Every exchange is bounded:
:data:`TIMEOUT` seconds to connect and for each read, :data:`DEADLINE` seconds in all, at most
:data:`MAX_RESPONSE_BYTES` read; no redirects are followed and no proxy is taken from the
environment (peers are named explicitly). A 4xx answer is :class:`~licences.federation.PeerRefusedError`;
anything else that is not a 200 JSON answer within the bounds is
:class:`~licences.federation.PeerUnreachableError` with a short reason (never the token, never the holder ID).

``clients`` maps a region to an ``httpx.Client`` to use instead of a fresh one (tests route a region
to a second in-process app this way; the app takes them from ``app.state.peer_clients``). Clients
passed in are not closed here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from urllib.parse import quote

import httpx

from api.logging import REQUEST_ID_HEADER, current_request_id
from api.settings import PeerDeployment
from licences.federation import PeerRefusedError, PeerUnreachableError

__all__ = ["DEADLINE", "MAX_RESPONSE_BYTES", "TIMEOUT", "HttpPeerDirectory", "read_peer_token"]

#: Seconds to connect, and to wait for each read.
TIMEOUT = 3.0
#: Seconds for a whole exchange (a peer trickling bytes cannot hold the holder's request longer).
DEADLINE = 6.0
#: Largest answer read from a peer (1,000 licences with their fields fit comfortably).
MAX_RESPONSE_BYTES = 4 << 20
_MAX_TOKEN_CHARS = 200


def read_peer_token(peer: PeerDeployment) -> str:
    """First line of the peer's token file.

    Raises:
        PeerUnreachableError: unreadable, empty, or not a plausible bearer token (reason names the problem only).
    """
    try:
        lines = peer.token_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise PeerUnreachableError("token file unreadable", message_zh="无法读取对端令牌文件") from None
    token = lines[0].strip() if lines else ""
    if not token or len(token) > _MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable() or " " in token:
        raise PeerUnreachableError("token file holds no usable token", message_zh="对端令牌文件内容无效")
    return token


class HttpPeerDirectory:
    """The peers of ``ESIGN_PEERS``, asked over HTTP(S) with bounded time and size."""

    def __init__(self, peers: Mapping[str, PeerDeployment], *, clients: Mapping[str, httpx.Client] | None = None,
                 timeout: float = TIMEOUT, deadline: float = DEADLINE,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self._peers = dict(peers)
        self._clients = dict(clients or {})
        self._timeout = timeout
        self._deadline = deadline
        self._max = max_response_bytes

    def __repr__(self) -> str:
        return f"<HttpPeerDirectory {sorted(self._peers)}>"

    def regions(self) -> Sequence[str]:
        """The configured peer regions."""
        return sorted(self._peers)

    def fetch(self, region: str, holder_id: str) -> object:
        """The peer's JSON answer (see the module docstring for the failures)."""
        peer = self._peers.get(region)
        if peer is None:
            raise PeerUnreachableError("not a configured peer", message_zh="未配置该地区的对端部署")
        token = read_peer_token(peer)
        url = f"{peer.url}/v1/holders/{quote(holder_id, safe='')}/licences"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if (rid := current_request_id()) is not None:
            headers[REQUEST_ID_HEADER] = rid  # the peer's access line then correlates with ours
        given = self._clients.get(region)
        client = given or httpx.Client(timeout=httpx.Timeout(self._timeout), follow_redirects=False, trust_env=False)
        start = time.monotonic()
        try:
            with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(self._timeout)) as resp:
                if 400 <= resp.status_code < 500:
                    raise PeerRefusedError(resp.status_code)
                if resp.status_code != 200:
                    raise PeerUnreachableError(f"HTTP {resp.status_code}")
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype != "application/json":
                    raise PeerUnreachableError(f"answered {ctype[:40] or 'no content type'}, not JSON")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body.extend(chunk)
                    if len(body) > self._max:
                        raise PeerUnreachableError(f"answer larger than {self._max} bytes")
                    if time.monotonic() - start > self._deadline:
                        raise PeerUnreachableError(f"answer took longer than {self._deadline:g} s")
        except httpx.TimeoutException:
            raise PeerUnreachableError(f"timed out after {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise PeerUnreachableError(f"request failed ({type(exc).__name__})") from None
        finally:
            if given is None:
                client.close()
        try:
            return json.loads(bytes(body))
        except ValueError:
            raise PeerUnreachableError("answer is not valid JSON") from None
