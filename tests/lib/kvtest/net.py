"""Loopback ports and HTTP GETs."""

import http.client
import socket
import time
import urllib.request


def free_ports(n):
    """n distinct loopback ports free at the time of the call."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def scrape_from(port, source="127.0.0.1", path="/metrics", timeout=5):
    """(HTTP status, body, seconds taken) of one GET from a chosen loopback
    source address (127.0.0.0/8 all routes to lo)."""
    t0 = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode()
        return r.status, body, time.time() - t0
    finally:
        conn.close()
