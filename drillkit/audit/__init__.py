"""Failure-assumption audit: single points of failure, and management that shares fate with production.

``drillkit audit TOPOLOGY`` reads a containerlab topology, the drillkit.* labels that
describe workloads and management, and an optional audit file (see ``spec``). It
reports three things. First, the links and nodes whose failure cuts a workload off
from a dependency, or a node off from the reference node. Second, whether management
access survives those failures over a path independent of production. Third, which
management connections share fate with the data plane. It can write the findings as
JSON, as an HTML page, and as drill scenarios.

Modules: ``spec`` (labels and audit file), ``graph`` (networkx graphs of the lab),
``cuts`` (single and paired failures), ``mgmt`` (management access), ``analysis``
(``audit_topology``, ``run_audit``), ``render`` (table, JSON), ``html``, ``generate``
(scenarios) and ``cli``. This file imports none of them, so that registering the
subcommand does not load networkx.
"""
