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
from collections import deque
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
        self._inner_cache: dict[tuple[int, int, int], _Blocks] = {}

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

    def connected(self, root: str, target: str, failed: frozenset[str] | set[str]) -> bool:
        """Return True when ``target`` still reaches ``root`` with the ``failed`` elements down.

        The block structure decides for one or two failed elements. More failed
        elements fall back to a breadth-first search.
        """
        if root in failed or target in failed:
            return False
        if root == target:
            return True
        if not self.reachable(root, target):
            return False
        blocks = self.blocks_from(root)
        ids = [self.ids[name] for name in failed if name in self.ids]
        if len(ids) > 2:
            return self._search(root, target, set(ids))
        chain = set(_chain(blocks, self.ids[target]))
        if any(x in chain for x in ids):
            return False
        if len(ids) < 2:
            return True
        x, y = ids
        block = blocks.parent_block.get(x)
        if block is None or block != blocks.parent_block.get(y) or not self._on_path(blocks, block, target):
            return True
        exit_vertex = self._exit(blocks, block, self.ids[target])
        inner = self._inner(blocks, block, x)
        if exit_vertex not in inner.parent_block:
            return False
        return y not in _chain(inner, exit_vertex)

    def _on_path(self, blocks: _Blocks, block: int, target: str) -> bool:
        current = blocks.parent_block.get(self.ids[target])
        while current is not None:
            if current == block:
                return True
            entry = blocks.entry[current]
            if entry == blocks.root:
                return False
            current = blocks.parent_block.get(entry)
        return False

    @staticmethod
    def _exit(blocks: _Blocks, block: int, target: int) -> int:
        """Return the vertex through which the path from the root to ``target`` leaves ``block``."""
        vertex = target
        while blocks.parent_block[vertex] != block:
            vertex = blocks.entry[blocks.parent_block[vertex]]
        return vertex

    def _inner(self, blocks: _Blocks, block: int, removed: int) -> _Blocks:
        """Return the blocks of ``block`` without ``removed``, rooted at the block's entry (cached)."""
        entry = blocks.entry[block]
        members = blocks.members[block]
        key = (entry, min(members), removed)
        cached = self._inner_cache.get(key)
        if cached is None:
            allowed = set(members)
            allowed.add(entry)
            cached = _rooted_blocks(self.adj, entry, allowed, removed)
            self._inner_cache[key] = cached
        return cached

    def _search(self, root: str, target: str, removed: set[int]) -> bool:
        start, goal = self.ids[root], self.ids[target]
        seen = {start}
        queue = deque([start])
        while queue:
            vertex = queue.popleft()
            if vertex == goal:
                return True
            for neighbour in self.adj[vertex]:
                if neighbour not in seen and neighbour not in removed:
                    seen.add(neighbour)
                    queue.append(neighbour)
        return False

    def pairs(self, root: str, target: str, limit: int, *,
              many_targets: bool = False) -> tuple[int, list[tuple[str, str]]]:
        """Return the number of minimal failure pairs that separate ``target`` from ``root``, and up to ``limit`` of them.

        A pair is minimal when neither element alone separates them. Neither
        ``root`` nor ``target`` is part of a pair.

        Args:
            root: one node.
            target: the other node.
            limit: how many pairs to list; the count is always exact.
            many_targets: the caller asks for many targets from this root, so each
                block computes its pairs for all its vertices at once (one DFS per
                block vertex). Otherwise only the vertices on one path through the
                block are removed, which is cheaper for a single target.
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
                if many_targets:
                    pair_set = self._block_pairs(blocks, block, limit).get(exit_vertex)
                else:
                    pair_set = self._path_pairs(blocks, block, exit_vertex, limit)
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

    def _path_pairs(self, blocks: _Blocks, block: int, exit_vertex: int, limit: int) -> PairSet:
        """Compute the minimal pairs separating a block's entry from ``exit_vertex``.

        Every separating pair meets every path between the two vertices, so one of
        its elements lies on a shortest path P. Removing each vertex x of P and
        listing the cut vertices y of B - x finds every pair. A pair with both
        elements on P is found twice, and the count subtracts those repeats.
        """
        entry = blocks.entry[block]
        members = blocks.members[block]
        allowed = set(members)
        allowed.add(entry)
        parent = {entry: entry}
        queue = deque([entry])
        while queue and exit_vertex not in parent:
            vertex = queue.popleft()
            for neighbour in self.adj[vertex]:
                if neighbour in allowed and neighbour not in parent:
                    parent[neighbour] = vertex
                    queue.append(neighbour)
        path = []
        vertex = parent[exit_vertex]
        while vertex != entry:
            path.append(vertex)
            vertex = parent[vertex]
        on_path = set(path)
        total = twice = 0
        listed: set[tuple[int, int]] = set()
        for removed in path:
            inner = self._inner(blocks, block, removed)
            cut = inner.entry[inner.parent_block[exit_vertex]]
            while cut != entry:
                total += 1
                if cut in on_path:
                    twice += 1
                if len(listed) < limit:
                    listed.add((removed, cut) if removed < cut else (cut, removed))
                cut = inner.entry[inner.parent_block[cut]]
        return PairSet(total - twice // 2, tuple(sorted(listed))[:limit])

    def _block_pairs(self, blocks: _Blocks, block: int, limit: int) -> dict[int, PairSet]:
        """Compute, for each vertex w of the block, the minimal pairs separating the block's entry from w."""
        entry = blocks.entry[block]
        members = blocks.members[block]
        # Two blocks share at most one vertex, so the entry and the smallest member identify a block.
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
