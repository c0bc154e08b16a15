"""The address a browser connects from, for the optional cap on active runs per address.

Behind a reverse proxy every browser seems to come from the proxy, which names the real
client in `X-Forwarded-For`; anyone can send that header, so it is believed only when the
connection comes from a proxy listed in PLAYGROUND_TRUSTED_PROXIES (addresses or networks,
comma-separated).
"""
from __future__ import annotations

import ipaddress
import os

import streamlit as st

TRUSTED_PROXIES_ENV = "PLAYGROUND_TRUSTED_PROXIES"
# Streamlit reports a peer on the loopback interface as no address at all: a browser on
# the server machine itself, or a proxy there.
LOOPBACK = ("127.0.0.1", "::1")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(text: str | None = None) -> list[Network]:
    """The networks of PLAYGROUND_TRUSTED_PROXIES; an entry that is no address is skipped
    (the server must start whatever an administrator typed)."""
    text = os.environ.get(TRUSTED_PROXIES_ENV, "") if text is None else text
    networks = []
    for item in text.split(","):
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            continue
    return networks


def _is_trusted(address: str, proxies: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def resolve(peer: str | None, forwarded_for: str | None, proxies: list[Network]) -> str | None:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    address in X-Forwarded-For that is not one (proxies append, so read from the right)."""
    if peer is None or not _is_trusted(peer, proxies) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a damaged header names nobody; the proxy is the client
    return peer


def client_address() -> str | None:
    """This session's client address; None for a browser on the server machine itself
    and where there is no browser (scripts, tests): no cap applies to those."""
    try:
        peer = st.context.ip_address
        forwarded_for = st.context.headers.get("X-Forwarded-For")
    except Exception:  # no browser behind the session
        return None
    if not isinstance(peer, (str, type(None))):
        return None  # a test's stand-in client
    proxies = trusted_proxies()
    if peer is None:
        # Loopback: only a trusted proxy on this machine makes it someone else's request.
        peer = next((a for a in LOOPBACK if _is_trusted(a, proxies)), None)
        if peer is None or not isinstance(forwarded_for, str):
            return None
    return resolve(peer, forwarded_for if isinstance(forwarded_for, str) else None, proxies)
