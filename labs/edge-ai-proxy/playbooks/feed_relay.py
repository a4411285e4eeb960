"""Recovery steps for the edge-ai-proxy lab: reset a site's feed relay over the OOB network.

A drill calls these as ``kind: python`` steps, so they run in the OOB jail and
reach the relay's Toxiproxy API on the edge router's management address only.
``POST /reset`` re-enables the relay's proxies and removes every toxic, as
restarting the relay would.
"""

from __future__ import annotations

import urllib.request

API_PORT = 8474


def reset_relay(oob, node: str) -> str:
    """Reset the feed relay on ``node`` through its Toxiproxy API; return the request and its HTTP status."""
    url = f"http://{oob.mgmt_address(node)}:{API_PORT}/reset"
    # An empty ProxyHandler ignores http_proxy from the environment: the API is inside the lab.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=b"", method="POST")
    with opener.open(request, timeout=5) as response:
        return f"POST {url}: HTTP {response.status}"


def reset_site1(oob) -> str:
    """Reset site 1's feed relay (on edge1)."""
    return reset_relay(oob, "edge1")


def reset_site2(oob) -> str:
    """Reset site 2's feed relay (on edge2)."""
    return reset_relay(oob, "edge2")
