"""Single and paired failures that separate two nodes, from biconnected components.

Links and nodes can both fail, so each link is turned into a vertex of its own
between its two end nodes (the graph is subdivided). Every failure is then the
removal of a vertex, and:

- the single failures that separate a root from a target are the cut vertices
  (articulation points) between the blocks on the block-cut tree path from the
  root to the target;
- a minimal pair of failures (neither alone separates them) lies inside one
  biconnected block B on that path. With x removed from B, the pair partners of x
  are the cut vertices of B - x between the block's entry (towards the root) and
  its exit (towards the target). So each block costs one DFS per vertex,
  O(|B| * (|B| + edges of B)), instead of a connectivity test per pair of elements.

The DFS is Tarjan's low-link algorithm, written iteratively so that deep graphs do
not hit Python's recursion limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import networkx as nx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairSet:
    """Minimal failure pairs that separate a block's entry from one of its vertices.

    Attributes:
        count: the exact number of pairs.
        pairs: the first ``limit`` pairs found, as sorted vertex-id tuples.
    """

    count: int
    pairs: tuple[tuple[int, int], ...]


class _Blocks:
    """Biconnected blocks reached from a root: each vertex's parent block and each block's entry."""

    __slots__ = ("root", "parent_block", "entry", "members", "order")

    def __init__(self, root: int) -> None:
        self.root = root
        self.parent_block: dict[int, int] = {}
        self.entry: list[int] = []
        self.members: list[list[int]] = []
        self.order: list[int] = []


def _rooted_blocks(adj: list[list[int]], root: int, allowed: set[int] | None = None,
                   removed: int = -1) -> _Blocks:
    """Split the part of the graph reachable from ``root`` into blocks, with their entries.

    Args:
        adj: adjacency lists of the subdivided graph.
        root: where the DFS starts.
        allowed: if given, only these vertices take part.
        removed: a vertex to leave out (-1 for none).
    """
    result = _Blocks(root)
    disc: dict[int, int] = {root: 0}
    low: dict[int, int] = {root: 0}
    result.order.append(root)
    edge_stack: list[tuple[int, int]] = []
    stack: list[tuple[int, int, int]] = [(root, -1, 0)]  # vertex, parent, next neighbour index
    counter = 1
    while stack:
        v, parent, index = stack[-1]
        neighbours = adj[v]
        if index < len(neighbours):
            stack[-1] = (v, parent, index + 1)
            w = neighbours[index]
            if w == removed or w == parent or (allowed is not None and w not in allowed):
                continue
            if w not in disc:
                disc[w] = low[w] = counter
                counter += 1
                result.order.append(w)
                edge_stack.append((v, w))
                stack.append((w, v, 0))
            elif disc[w] < disc[v]:
                edge_stack.append((v, w))
                if disc[w] < low[v]:
                    low[v] = disc[w]
            continue
        stack.pop()
        if parent == -1:
            continue
        if low[v] < low[parent]:
            low[parent] = low[v]
        if low[v] >= disc[parent]:
            block = len(result.entry)
            result.entry.append(parent)
            members: list[int] = []
            seen = {parent}
            while edge_stack:
                a, b = edge_stack.pop()
                for x in (a, b):
                    if x not in seen:
                        seen.add(x)
                        members.append(x)
                        result.parent_block[x] = block
                if (a, b) == (parent, v):
                    break
            result.members.append(members)
    return result


def _chain(blocks: _Blocks, vertex: int) -> list[int]:
    """Return the cut vertices between the root and ``vertex``, nearest to ``vertex`` first."""
    cuts = []
    block = blocks.parent_block.get(vertex)
    while block is not None:
        entry = blocks.entry[block]
        if entry == blocks.root:
            break
        cuts.append(entry)
        block = blocks.parent_block.get(entry)
    return cuts


class CutIndex:
    """The subdivided production graph, for cut queries between any two nodes.

    Args:
        production: a MultiGraph whose edges are keyed by link name.
    """

    def __init__(self, production: nx.MultiGraph) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        for node in production.nodes:
            self._add(str(node))
        self.node_count = len(self.names)
        edges = []
        for a, b, key in production.edges(keys=True):
            link = self._add(str(key))
            edges.append((self.ids[str(a)], link))
            edges.append((link, self.ids[str(b)]))
        self.adj: list[list[int]] = [[] for _ in self.names]
        for a, b in edges:
            if b not in self.adj[a]:
                self.adj[a].append(b)
                self.adj[b].append(a)
        self._rooted: dict[int, _Blocks] = {}
        self._pairs: dict[tuple[int, int], dict[int, PairSet]] = {}
        self._pair_limit: dict[tuple[int, int], int] = {}

    def _add(self, name: str) -> int:
        if name in self.ids:
            raise ValueError(f"duplicate element name {name!r}")
        self.ids[name] = len(self.names)
        self.names.append(name)
        return self.ids[name]

    def blocks_from(self, root: str) -> _Blocks:
        key = self.ids[root]
        if key not in self._rooted:
            self._rooted[key] = _rooted_blocks(self.adj, key)
        return self._rooted[key]

    def reachable(self, root: str, target: str) -> bool:
        blocks = self.blocks_from(root)
        return target == root or self.ids[target] in blocks.parent_block

    def single_cuts(self, root: str, target: str) -> list[str]:
        """Return the elements whose failure alone separates ``target`` from ``root``, nearest the target first.

        Neither ``root`` nor ``target`` is listed. The result is empty when the
        target is not reachable at all; check ``reachable`` first.
        """
        return [self.names[v] for v in _chain(self.blocks_from(root), self.ids[target])]

    def pairs(self, root: str, target: str, limit: int) -> tuple[int, list[tuple[str, str]]]:
        """Return the number of minimal failure pairs that separate ``target`` from ``root``, and up to ``limit`` of them.

        A pair is minimal when neither element alone separates them. Neither
        ``root`` nor ``target`` is part of a pair.
        """
        blocks = self.blocks_from(root)
        vertex = self.ids[target]
        count = 0
        found: list[tuple[str, str]] = []
        block = blocks.parent_block.get(vertex)
        exit_vertex = vertex
        while block is not None:
            entry = blocks.entry[block]
            if len(blocks.members[block]) >= 2:  # with the entry, three vertices or more
                table = self._block_pairs(blocks, block, limit)
                pair_set = table.get(exit_vertex)
                if pair_set is not None:
                    count += pair_set.count
                    for a, b in pair_set.pairs:
                        if len(found) >= limit:
                            break
                        found.append((self.names[a], self.names[b]))
            if entry == blocks.root:
                break
            exit_vertex = entry
            block = blocks.parent_block.get(entry)
        return count, found

    def _block_pairs(self, blocks: _Blocks, block: int, limit: int) -> dict[int, PairSet]:
        """Compute, for each vertex w of the block, the minimal pairs separating the block's entry from w."""
        entry = blocks.entry[block]
        members = blocks.members[block]
        key = (entry, min(members))
        if key in self._pairs and self._pair_limit[key] >= limit:
            return self._pairs[key]
        allowed = set(members)
        allowed.add(entry)
        # Each unordered pair {x, y} is found twice: y separates in B - x, and x in B - y.
        doubled: dict[int, int] = {w: 0 for w in members}
        listed: dict[int, set[tuple[int, int]]] = {w: set() for w in members}
        for removed in members:
            inner = _rooted_blocks(self.adj, entry, allowed, removed)
            # Cut vertices between the entry and each vertex, counted in discovery order.
            depth: dict[int, int] = {entry: 0}
            for w in inner.order[1:]:
                parent_entry = inner.entry[inner.parent_block[w]]
                depth[w] = depth[parent_entry] + (0 if parent_entry == entry else 1)
                if depth[w] == 0:
                    continue
                doubled[w] += depth[w]
                bucket = listed[w]
                cut = parent_entry
                while len(bucket) < limit and cut != entry:
                    bucket.add((removed, cut) if removed < cut else (cut, removed))
                    cut = inner.entry[inner.parent_block[cut]]
        table = {w: PairSet(doubled[w] // 2, tuple(sorted(listed[w]))[:limit]) for w in members}
        self._pairs[key] = table
        self._pair_limit[key] = limit
        return table
