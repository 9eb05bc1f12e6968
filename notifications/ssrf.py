"""Webhook URLs and server-side request forgery (API.md: ``invalid_url``).

A URL must be ``https://``, or ``http://`` to a private or loopback address when the setting
``WEBHOOK_ALLOW_PRIVATE_URLS`` is on (development, tests). Its host is resolved and every
address checked: loopback and private addresses are refused unless the setting is on;
link-local (cloud metadata), multicast, unspecified and reserved addresses always. The check
runs when an endpoint is created or changed and again before each delivery, which then connects
to the address it checked (a DNS answer that changes in between cannot redirect it).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from marketplace.common.errors import DomainError
from notifications.codes import ErrorCode

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidUrl(DomainError):
    code: str = ErrorCode.INVALID_URL
    status_code = 400
    default_detail = "The webhook URL is not allowed."


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str


def _refuse(reason: str) -> InvalidUrl:
    return InvalidUrl(f"url: {reason}", errors={"url": [reason]})


def _parse(url: str) -> SplitResult:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise _refuse(f"Must be a URL of at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise _refuse("Not a valid URL.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _refuse("Must be an https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise _refuse("Must not contain credentials.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise _refuse("Must not contain spaces or control characters.")
    return parts


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refuse("The host does not resolve.") from exc
    out = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        out.append(address)
    if not out:
        raise _refuse("The host does not resolve.")
    return out


def _internal(address: IPAddress) -> bool:
    """Loopback, private, and anything else not globally routable (shared, documentation)."""
    return address.is_loopback or address.is_private or not address.is_global


def _never(address: IPAddress) -> bool:
    # Checked before _internal: 169.254.0.0/16 and 240.0.0.0/4 also count as private.
    return (
        address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or (address.is_reserved and not address.is_loopback)
    )


def check_url(url: str) -> Target:
    """The checked target of ``url``, or ``InvalidUrl`` (400 ``invalid_url``)."""
    parts = _parse(url)
    allow_private = bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", False))
    if parts.scheme == "http" and not allow_private:
        raise _refuse("Must be an https:// URL.")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _addresses(host, port)
    for address in addresses:
        if _never(address):
            raise _refuse(f"The host resolves to a forbidden address ({address}).")
        if _internal(address) and not allow_private:
            raise _refuse(f"The host resolves to a private or loopback address ({address}).")
        if parts.scheme == "http" and not _internal(address):
            raise _refuse("http:// is allowed only to private or loopback addresses.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url, parts.scheme, host, port, str(addresses[0]), path)
