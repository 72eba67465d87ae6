"""The addresses other machines can reach this one at, for the start-up lines.

A server bound to 0.0.0.0 is reachable at every address of every interface; the user needs to
know which to type on the laptop. Tailscale addresses (100.64.0.0/10, or an interface named
tailscale*) are marked, since that is the network people use for exactly this.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass

_SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address
_TAILSCALE_NET = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Address:
    address: str
    interface: str | None

    @property
    def tailscale(self) -> bool:
        if self.interface is not None and self.interface.startswith("tailscale"):
            return True
        with contextlib.suppress(ValueError):
            return ipaddress.ip_address(self.address) in _TAILSCALE_NET
        return False

    def describe(self, port: int) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        where = [self.interface] if self.interface else []
        if self.tailscale:
            where.append("Tailscale")
        return f"http://{host}:{port}" + (f" ({', '.join(where)})" if where else "")


def reachable_addresses(host: str) -> list[Address]:
    """Where a server bound to ``host`` answers; loopback addresses last."""
    if host not in ("0.0.0.0", "::", ""):
        return [Address(host, None)]
    found = _interface_addresses() or _resolved_addresses()
    return sorted(found, key=lambda a: (ipaddress.ip_address(a.address).is_loopback, a.address))


def _interface_addresses() -> list[Address]:
    """IPv4 address of each interface (Linux ioctl); empty where that is not available."""
    found: list[Address] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return found
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in interfaces:
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address, or not Linux
                continue
            found.append(Address(socket.inet_ntoa(answer[20:24]), name))
    return found


def _resolved_addresses() -> list[Address]:
    with contextlib.suppress(OSError):
        _, _, addresses = socket.gethostbyname_ex(socket.gethostname())
        return [Address(address, None) for address in addresses]
    return [Address("127.0.0.1", None)]
