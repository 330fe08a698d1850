"""The connection's host as a base URL, checked before any request is sent: pure, no I/O.

Every problem is a :class:`~airflow_provider_mimecast.errors.MimecastConfigurationError` that names the host
with any user info (which may hold a password) hidden.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import idna

from airflow_provider_mimecast.errors import MimecastConfigurationError

DEFAULT_BASE_URL = "https://api.services.mimecast.com"


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` is this machine (the only place plain http is accepted)."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


# The user info of a URL, as in ``https://user:password@host``: hidden wherever the host is quoted back.
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/?#]*@")
_IPV4_LIKE = re.compile(r"^[0-9.]+$")
_ASCII_HOSTNAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")


def _shown(host: str) -> str:
    """``host`` as it may appear in a message: any user info (which may hold a password) replaced."""
    return _USERINFO.sub(r"\1***@", host.strip())


def _check_hostname(hostname: str, host: str) -> None:
    """Refuse a host name the HTTP clients would reject only at the first request."""
    problem = None
    if ":" in hostname:  # an IPv6 literal, from inside the brackets
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            problem = "its IPv6 address is not valid"
    elif _IPV4_LIKE.match(hostname):
        try:
            ipaddress.IPv4Address(hostname)
        except ValueError:
            problem = "its IPv4 address is not valid"
    elif hostname.isascii():
        if not _ASCII_HOSTNAME.match(hostname) or any(len(label) > 63 for label in hostname.split(".")):
            problem = "its host name has characters or labels a host name cannot have"
    else:
        try:
            # The same IDNA encoding httpx applies to the host when it sends the request.
            idna.encode(hostname)
        except (idna.IDNAError, UnicodeError, ValueError):
            problem = "its international host name is not valid IDNA"
    if problem:
        raise MimecastConfigurationError(
            f"host {_shown(host)!r} is not a base URL: {problem}; use e.g. {DEFAULT_BASE_URL}"
        )


def parse_base_url(host: str | None) -> tuple[str, bool]:
    """Return the base URL for the connection's ``host`` and whether https was assumed for lack of a scheme.

    Plain http is allowed only on loopback. Every problem is a :class:`MimecastConfigurationError` that
    names the host with any user info hidden.

    :param host: the connection's host field: a base URL, or a host name (https is then assumed).
    """
    if not host or not host.strip():
        return DEFAULT_BASE_URL, False
    shown = _shown(host)
    text = host.strip().rstrip("/")
    scheme_assumed = "://" not in text
    if scheme_assumed:
        # Airflow users often type only the host name; Mimecast is https-only.
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
        has_userinfo = "@" in parts.netloc
        port = None if has_userinfo else parts.port
    except ValueError as error:
        # urlsplit's own messages quote the netloc, which may hold user info: name the kind of error only.
        reason = (
            "its port is not a number from 1 to 65535"
            if "port" in str(error).lower()
            else (
                "an IPv6 address needs its closing ']'"
                if "IPv6" in str(error)
                else "it has characters a host name cannot have"
            )
        )
        raise MimecastConfigurationError(
            f"host {shown!r} is not a base URL: {reason}; use e.g. {DEFAULT_BASE_URL}"
        ) from None
    if has_userinfo:
        raise MimecastConfigurationError(
            f"host {shown!r} has user info (user:password@) in the URL: remove it; the client ID or access "
            "key goes in the connection's login and the secret in its password"
        )
    if parts.scheme not in ("http", "https") or not hostname:
        raise MimecastConfigurationError(
            f"host {shown!r} is not a base URL: use e.g. {DEFAULT_BASE_URL} or a regional URL from the docs' connection page"
        )
    if port == 0:
        raise MimecastConfigurationError(
            f"host {shown!r} is not a base URL: its port is not a number from 1 to 65535"
        )
    _check_hostname(hostname, host)
    if parts.scheme == "http" and not is_loopback(hostname):
        raise MimecastConfigurationError(
            f"host {shown!r} uses plain http: Mimecast credentials must travel over https. "
            "Use https://... (plain http is accepted only for a loopback address such as the local simulator)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MimecastConfigurationError(
            f"host {shown!r} has a path; give only the base URL such as {DEFAULT_BASE_URL}"
        )
    return f"{parts.scheme}://{parts.netloc}", scheme_assumed
