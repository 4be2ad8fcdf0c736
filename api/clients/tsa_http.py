"""An RFC 3161 client over HTTP implementing :class:`esign.tsa.TimeStamper` (RFC 3161 §3.4 transport).

``HttpTimeStamper(url).stamp(data)`` posts a TimeStampReq (``application/timestamp-query``, random
nonce, certReq) and returns the token of a granted response whose imprint and nonce match. Every
failure (connection, timeout, HTTP status, wrong media type, oversized or malformed reply,
rejection) is a :class:`esign.tsa.TimestampRequestError`. Responses are read up to
:data:`MAX_RESPONSE_BYTES`; the whole exchange is bounded by ``timeout``.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from esign.tsa import TimestampRequestError, check_response, imprint_for, make_request

__all__ = ["DEFAULT_TIMEOUT", "MAX_RESPONSE_BYTES", "HttpTimeStamper"]

#: Largest TimeStampResp accepted (a token with a certificate chain is a few KiB).
MAX_RESPONSE_BYTES = 256 << 10
#: Seconds for connect + request + response.
DEFAULT_TIMEOUT = 10.0
_TSR = "application/timestamp-reply"
_TSQ = "application/timestamp-query"


class HttpTimeStamper:
    """TimeStamper that asks an external TSA over HTTP(S)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        client: httpx.Client | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://", "/")):
            raise TimestampRequestError(f"TSA URL must be http(s): {url!r}", message_zh="时间戳服务地址无效")
        self.url = url
        self._timeout = timeout
        self._max = max_response_bytes
        self._client = client
        self._headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"<HttpTimeStamper {self.url}>"

    def stamp(self, data: bytes | None = None, *, digest: bytes | None = None, hash_name: str = "sha256") -> bytes:
        """Token DER for ``data`` or ``digest`` from the remote TSA."""
        imprint = imprint_for(data, digest, hash_name)
        nonce = secrets.randbits(63)
        body = self.exchange(make_request(imprint, hash_name=hash_name, nonce=nonce))
        return check_response(body, imprint=imprint, nonce=nonce)

    def exchange(self, tsq: bytes) -> bytes:
        """POST a DER TimeStampReq; the raw DER TimeStampResp (status not yet checked)."""
        headers = {"Content-Type": _TSQ, "Accept": _TSR, **self._headers}
        client = self._client or httpx.Client(timeout=self._timeout, follow_redirects=False)
        try:
            with client.stream("POST", self.url, content=tsq, headers=headers, timeout=self._timeout) as resp:
                if resp.status_code != 200:
                    raise TimestampRequestError(f"TSA answered HTTP {resp.status_code}",
                                                message_zh=f"时间戳服务返回 HTTP {resp.status_code}")
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype != _TSR:
                    raise TimestampRequestError(f"TSA answered {ctype or 'no content type'}, not {_TSR}",
                                                message_zh="时间戳服务响应类型错误")
                out = bytearray()
                for chunk in resp.iter_bytes():
                    out.extend(chunk)
                    if len(out) > self._max:
                        raise TimestampRequestError("TSA response too large", message_zh="时间戳响应过大")
                return bytes(out)
        except httpx.HTTPError as exc:
            raise TimestampRequestError(f"TSA unreachable: {type(exc).__name__}",
                                        message_zh="无法连接时间戳服务") from exc
        finally:
            if self._client is None:
                client.close()

    def close(self) -> None:
        """Nothing to release unless a client was passed in (the caller owns it)."""

    def __enter__(self) -> HttpTimeStamper:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
