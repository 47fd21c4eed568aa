"""Server-side request forgery guard for webhook URLs.

A webhook URL is typed by a user, and revops POSTs to it from inside the network, so it must not reach
the metadata service (169.254.169.254), the database, or anything else on a private network. The URL
must be http(s); its host is resolved and every address it resolves to must be globally routable,
unless the endpoint was explicitly allowed (`allow_private_network`, admins only) or its host is in
settings.REVOPS_WEBHOOK_ALLOWED_HOSTS. The check runs when an endpoint is saved and again before each
delivery (DNS can change), and the delivery connects to the very address that was checked, so a name
cannot resolve to a public address for the check and a private one for the request.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from revops.kernel.errors import ValidationFailed

ALLOWED_SCHEMES = ("http", "https")


class UnsafeUrl(ValidationFailed):
    """The URL may not be called (400 on save; a failed attempt with this reason at delivery)."""

    code = "unsafe_url"

    def __init__(self, message: str, *, field: str = "url"):
        super().__init__(message, fields={field: [message]})


@dataclass(frozen=True)
class Target:
    """Where a checked URL is sent: the address to connect to, and what to put in Host / SNI."""

    scheme: str
    host: str  # as written in the URL (a name or an address), for the Host header and TLS
    port: int
    address: str  # the checked IP address to connect to
    path: str  # path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def allowed_hosts() -> set[str]:
    return {h.strip().lower().rstrip(".") for h in getattr(settings, "REVOPS_WEBHOOK_ALLOWED_HOSTS", []) if h}


def _why_not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    for attr, label in (("is_loopback", "a loopback"), ("is_link_local", "a link-local"),
                        ("is_unspecified", "an unspecified"), ("is_multicast", "a multicast"),
                        ("is_private", "a private"), ("is_reserved", "a reserved")):
        if getattr(ip, attr):
            return f"{label} address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"the host {host!r} does not resolve ({exc})") from None
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = sockaddr[0].split("%", 1)[0]  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrl(f"the host {host!r} does not resolve")
    return addresses


def url_check(url: str, *, allow_private_network: bool = False) -> Target:
    """The checked target of `url`, or UnsafeUrl saying why it may not be called.

    Every address the host resolves to must be public: a name with one public and one private address
    is refused, since the connection could go to either.
    """
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL ({exc})") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrl(f"only http and https URLs can receive webhooks, not {scheme or 'this'!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed; sign with the endpoint's secret instead")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    trusted = allow_private_network or host.lower() in allowed_hosts()
    if not trusted:
        for address in addresses:
            reason = _why_not_public(ipaddress.ip_address(address))
            if reason:
                raise UnsafeUrl(
                    f"{host} resolves to {address}, {reason}; webhooks go to public addresses only "
                    "(an admin can allow a private network on the endpoint)")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, address=addresses[0], path=path)
