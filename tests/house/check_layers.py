#!/usr/bin/env python3
"""The agent's stage folders call only down the pipeline, and no header
includes lead back to the file they start from.

Each folder's README.md names its layer on a line `layer: N`; a file may
include headers of its own folder or of a folder with a lower layer.
Prints one line per finding and the closing `layers: N passed, N failed`.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
AGENT = os.path.join(ROOT, "agent")
INCLUDE = re.compile(r'^#include "([a-z_]+)/([a-z_]+\.h)"', re.M)


def folder_layers():
    layers = {}
    for name in sorted(os.listdir(AGENT)):
        readme = os.path.join(AGENT, name, "README.md")
        if not os.path.isdir(os.path.join(AGENT, name)):
            continue
        text = open(readme).read() if os.path.exists(readme) else ""
        m = re.search(r"^layer: (\d+)$", text, re.M)
        layers[name] = int(m.group(1)) if m else None
    return layers


def includes():
    """(folder, file) -> [(folder, header)] for every agent source and header."""
    graph = {}
    for folder in sorted(os.listdir(AGENT)):
        path = os.path.join(AGENT, folder)
        if not os.path.isdir(path):
            continue
        for f in sorted(os.listdir(path)):
            if f.endswith((".c", ".h")):
                text = open(os.path.join(path, f)).read()
                graph[(folder, f)] = INCLUDE.findall(text)
    return graph


def cycle_from(graph, start):
    stack, seen = [(start, [start])], set()
    while stack:
        node, trail = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return trail + [nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, trail + [nxt]))
    return None


def main():
    passed = failed = 0
    layers = folder_layers()
    stray = [f for f in os.listdir(AGENT) if os.path.isfile(os.path.join(AGENT, f))
             and f != "main.c"]
    for name in [n for n, layer in layers.items() if layer is None] + stray:
        print("FAIL %s: a stage folder with a README.md saying `layer: N`" % name)
        failed += 1
    graph = includes()
    for (folder, f), incs in graph.items():
        for to_folder, header in incs:
            if (to_folder, header) not in graph:
                print("FAIL agent/%s/%s includes missing %s/%s" % (folder, f, to_folder, header))
                failed += 1
            elif to_folder != folder and (layers.get(to_folder) or 0) >= (layers.get(folder) or 0):
                print("FAIL agent/%s/%s (layer %s) includes %s/%s (layer %s): calls go down"
                      % (folder, f, layers.get(folder), to_folder, header, layers.get(to_folder)))
                failed += 1
            else:
                passed += 1
    headers = {k: [x for x in v if x in graph] for k, v in graph.items()}
    for node in sorted(headers):
        cyc = cycle_from(headers, node)
        if cyc:
            print("FAIL include cycle: %s" % " -> ".join("%s/%s" % c for c in cyc))
            failed += 1
        else:
            passed += 1
    print("layers: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
