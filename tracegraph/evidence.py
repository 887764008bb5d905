"""Evidence chain: one device's or batch's full history, its findings, and a verifiable package.

The chain of a subject (a Device or a Batch) is the subject, its upstream genealogy closure and
its downstream genealogy closure, plus the *context* of every batch in it: the equipment,
process revision and change orders of downstream batches (upstream batches already bring
theirs). Around the chain come the records about it:

- inspections of every lot, batch and device in the chain (INSPECTED);
- maintenance of every piece of equipment in the chain, around each time it was used
  (MAINTAINS; see `keep_maintenance`);
- certificates of every supplier in the chain (CERTIFIES), with, for each lot the supplier
  delivered in the chain, which certificates were valid on the day the lot was received;
- change orders in the chain (IMPLEMENTED_IN) with what they change (CHANGES);
- process revisions in the chain (FOLLOWED) with the documents that govern them (GOVERNS),
  and the products the batches build (HAS_BATCH).

Findings are flagged by the rules in `RULES`. Everything dated becomes one timeline.

The package is a BagIt bag (RFC 8493) holding ``data/evidence.json``, ``data/timeline.csv`` and
``data/report.html``, written as a folder or as a zip; `verify_package` recomputes every
checksum and names each altered, missing or added file.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

import orjson

from tracegraph.errors import BadInput
from tracegraph.model import (
    GENEALOGY,
    TEMPORAL_FIELDS,
    Direction,
    EntityType,
    RelType,
    iso,
    key_type,
)
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode, sort_edges
from tracegraph.trace import require

E = EntityType
R = RelType

SUBJECT_TYPES: Final = (E.Device, E.Batch)

#: Maintenance within this long of a use (before or after) is kept as evidence of that use.
MAINTENANCE_WINDOW: Final = dt.timedelta(days=30)

HELD_STATUSES: Final = ("quarantined", "rejected")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    meaning: str


#: Every finding rule, in the order findings of equal severity are listed.
RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "lot-outside-certificate",
        "high",
        "a lot was received on a day that none of its supplier's certificates covers",
    ),
    Rule(
        "calibration-failed-before-use",
        "high",
        "a batch was processed on equipment whose last calibration before the use failed",
    ),
    Rule(
        "calibration-failed-after-use",
        "high",
        "a batch was processed on equipment whose next calibration after the use failed, with "
        "no failed calibration before it: the equipment went out of tolerance at an unknown "
        "time since its last passing calibration, and this use falls in that window",
    ),
    Rule(
        "failed-inspection-without-pass",
        "high",
        "an inspection failed and no later inspection of the same kind on the same subject passed",
    ),
    Rule(
        "device-from-held-batch",
        "high",
        "a device was produced by, or contains a sub-assembly from, a quarantined or rejected "
        "batch",
    ),
)
RULE_ORDER: Final = {r.id: i for i, r in enumerate(RULES)}
SEVERITY_ORDER: Final = {"high": 0, "medium": 1, "low": 2}

#: Roles of the nodes in an evidence chain.
ROLES: Final = ("subject", "upstream", "downstream", "context", "evidence", "design")


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    subject: str
    message: str
    evidence: tuple[str, ...]

    def sort_key(self) -> tuple[int, int, str, tuple[str, ...]]:
        return (SEVERITY_ORDER[self.severity], RULE_ORDER[self.rule], self.subject, self.evidence)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Fact:
    """One dated fact of the timeline: a node's field, or an edge's time."""

    at: dt.datetime | dt.date
    key: str
    fact: str
    detail: str
    related: str | None = None

    @property
    def instant(self) -> dt.datetime:
        if isinstance(self.at, dt.datetime):
            return self.at
        return dt.datetime(self.at.year, self.at.month, self.at.day, tzinfo=dt.UTC)

    def sort_key(self) -> tuple[dt.datetime, str, str, str]:
        return (self.instant, self.key, self.fact, self.related or "")

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "key": self.key,
            "type": self.key.partition(":")[0],
            "fact": self.fact,
            "detail": self.detail,
            "related": self.related,
        }


@dataclass(frozen=True)
class Use:
    """One use of a piece of equipment (a PROCESSED edge) and the calibrations around it."""

    equipment: str
    batch: str
    at: dt.datetime
    calibration_before: str | None
    calibration_after: str | None
    maintenance: tuple[str, ...]

    def as_json(self, nodes: Mapping[str, StoredNode]) -> dict[str, Any]:
        def result(key: str | None) -> Any:
            return None if key is None else nodes[key].props.get("result")

        return {
            "equipment": self.equipment,
            "batch": self.batch,
            "at": iso(self.at),
            "last_calibration_before": self.calibration_before,
            "last_calibration_before_result": result(self.calibration_before),
            "first_calibration_after": self.calibration_after,
            "first_calibration_after_result": result(self.calibration_after),
            "maintenance": list(self.maintenance),
        }


@dataclass(frozen=True)
class LotCertificates:
    """Which of its supplier's certificates covered a lot on the day it was received."""

    lot: str
    supplier: str
    received_on: dt.date
    certificates: tuple[str, ...]
    valid: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return bool(self.valid)

    def as_json(self) -> dict[str, Any]:
        return {
            "lot": self.lot,
            "supplier": self.supplier,
            "received_on": self.received_on.isoformat(),
            "certificates": list(self.certificates),
            "valid_at_receipt": list(self.valid),
            "covered": self.covered,
        }


@dataclass(frozen=True)
class EvidenceChain:
    subject: str
    as_of: dt.datetime | None
    nodes: dict[str, StoredNode]
    roles: dict[str, str]
    edges: list[StoredEdge]
    uses: list[Use]
    lot_certificates: list[LotCertificates]
    findings: list[Finding]
    timeline: list[Fact]

    def keys(self, role: str, type_: EntityType | None = None) -> list[str]:
        return sorted(
            k
            for k, r in self.roles.items()
            if r == role and (type_ is None or key_type(k) is type_)
        )

    def of_type(self, type_: EntityType) -> list[str]:
        return sorted(k for k in self.nodes if key_type(k) is type_)

    def _linked(self, rel: RelType, key: str, direction: Direction) -> list[str]:
        if direction is Direction.down:
            return sorted(e.dst for e in self.edges if e.type is rel and e.src == key)
        return sorted(e.src for e in self.edges if e.type is rel and e.dst == key)

    def _node(self, key: str, **extra: Any) -> dict[str, Any]:
        return {**self.nodes[key].as_json(), **extra}

    def as_json(self) -> dict[str, Any]:
        down, up = Direction.down, Direction.up
        by_role: dict[str, dict[str, int]] = {role: {} for role in ROLES}
        for key, role in self.roles.items():
            kind = key.partition(":")[0]
            by_role[role][kind] = by_role[role].get(kind, 0) + 1
        by_rule = {r.id: 0 for r in RULES}
        for f in self.findings:
            by_rule[f.rule] += 1
        products = self._linked_products()
        return {
            "subject": self._node(self.subject, role="subject"),
            "as_of": iso(self.as_of),
            "products": products,
            "findings": [f.as_json() for f in self.findings],
            "rules": [
                {
                    "id": r.id,
                    "severity": r.severity,
                    "meaning": r.meaning,
                    "findings": by_rule[r.id],
                }
                for r in RULES
            ],
            "nodes": [self._node(k, role=self.roles[k]) for k in sorted(self.nodes)],
            "edges": [e.as_json() for e in self.edges],
            "inspections": [
                self._node(k, subjects=self._linked(R.INSPECTED, k, down))
                for k in self.of_type(E.Inspection)
            ],
            "equipment_use": [u.as_json(self.nodes) for u in self.uses],
            "maintenance": [
                self._node(k, equipment=self._linked(R.MAINTAINS, k, down))
                for k in self.of_type(E.MaintenanceEvent)
            ],
            "certificates": [
                self._node(k, suppliers=self._linked(R.CERTIFIES, k, down))
                for k in self.of_type(E.Certificate)
            ],
            "lot_certificates": [c.as_json() for c in self.lot_certificates],
            "change_orders": [
                self._node(
                    k,
                    implemented_in=self._linked(R.IMPLEMENTED_IN, k, down),
                    changes=self._linked(R.CHANGES, k, down),
                )
                for k in self.of_type(E.ChangeOrder)
            ],
            "processes": [
                self._node(
                    k,
                    batches=self._linked(R.FOLLOWED, k, down),
                    documents=self._linked(R.GOVERNS, k, up),
                )
                for k in self.of_type(E.Process)
            ],
            "documents": [
                self._node(k, governs=self._linked(R.GOVERNS, k, down))
                for k in self.of_type(E.Document)
            ],
            "timeline": [f.as_json() for f in self.timeline],
            "counts": {
                "nodes": len(self.nodes),
                "edges": len(self.edges),
                "by_role": {role: dict(sorted(c.items())) for role, c in by_role.items()},
                "findings": len(self.findings),
                "findings_by_rule": by_rule,
                "timeline": len(self.timeline),
            },
        }

    def _linked_products(self) -> list[dict[str, Any]]:
        out = []
        for key in self.of_type(E.Product):
            batches = self._linked(R.HAS_BATCH, key, Direction.down)
            if batches:
                out.append(self._node(key, batches=batches))
        return out


# --------------------------------------------------------------------------- the chain


def evidence(store: GraphStore, key: str, *, as_of: dt.datetime | None = None) -> EvidenceChain:
    """The evidence chain of a Device or Batch, with its findings and timeline.

    ``as_of`` only labels the answer: pass the time of the view when ``store`` is one.
    """
    (subject,) = require(store, [key])
    if key_type(subject) not in SUBJECT_TYPES:
        raise BadInput(
            f"{subject}: evidence chains are for a Device or a Batch, not a {key_type(subject)}"
        )
    upstream = store.reach([subject], GENEALOGY, Direction.up)
    downstream = store.reach([subject], GENEALOGY, Direction.down)
    roles: dict[str, str] = {k: "downstream" for k in downstream}
    roles.update({k: "upstream" for k in upstream})
    roles[subject] = "subject"

    batches = sorted(k for k in roles if key_type(k) is E.Batch)
    # How downstream batches were made: their equipment, process revision and change orders.
    for edge in store.edges(batches, [R.PROCESSED, R.FOLLOWED, R.IMPLEMENTED_IN], Direction.up):
        roles.setdefault(edge.src, "context")
    chain = sorted(roles)
    edges = store.edges(chain, GENEALOGY, None)

    def of(*types: EntityType) -> list[str]:
        return [k for k in chain if key_type(k) in types]

    inspected = store.edges(of(E.MaterialLot, E.Batch, E.Device), [R.INSPECTED], Direction.up)
    maintains = store.edges(of(E.Equipment), [R.MAINTAINS], Direction.up)
    certifies = store.edges(of(E.Supplier), [R.CERTIFIES], Direction.up)
    governs = store.edges(of(E.Process), [R.GOVERNS], Direction.up)
    changes = store.edges(of(E.ChangeOrder), [R.CHANGES], Direction.down)
    has_batch = store.edges(batches, [R.HAS_BATCH], Direction.up)

    nodes = store.nodes(
        [
            *chain,
            *(e.src for e in (*inspected, *maintains, *certifies, *governs, *has_batch)),
            *(e.dst for e in changes),
        ]
    )
    uses, kept = _equipment_use(nodes, edges, maintains)
    maintains = [e for e in maintains if e.src in kept]
    for key in {e.src for e in maintains} | {e.src for e in (*inspected, *certifies)}:
        roles.setdefault(key, "evidence")
    for key in {e.src for e in (*governs, *has_batch)} | {e.dst for e in changes}:
        roles.setdefault(key, "design")
    extra = [*inspected, *maintains, *certifies, *governs, *changes, *has_batch]
    nodes = {k: nodes[k] for k in roles}
    all_edges = sort_edges({(e.type, e.src, e.dst): e for e in (*edges, *extra)}.values())

    lot_certs = _lot_certificates(nodes, edges, certifies)
    findings = [
        *_certificate_findings(nodes, lot_certs),
        *_calibration_findings(nodes, uses),
        *_inspection_findings(nodes, inspected),
        *_held_batch_findings(nodes, edges),
    ]
    return EvidenceChain(
        subject=subject,
        as_of=as_of,
        nodes=nodes,
        roles=roles,
        edges=all_edges,
        uses=uses,
        lot_certificates=lot_certs,
        findings=sorted(findings, key=Finding.sort_key),
        timeline=_timeline(nodes, all_edges),
    )


def _equipment_use(
    nodes: Mapping[str, StoredNode], edges: Sequence[StoredEdge], maintains: Sequence[StoredEdge]
) -> tuple[list[Use], set[str]]:
    """Each PROCESSED edge with the maintenance kept as evidence of it (see `keep_maintenance`)."""
    history: dict[str, list[StoredNode]] = defaultdict(list)
    for edge in maintains:
        history[edge.dst].append(nodes[edge.src])
    for events in history.values():
        events.sort(key=lambda n: (n.props["performed_at"], n.key))
    uses: list[Use] = []
    kept: set[str] = set()
    for edge in edges:
        if edge.type is not R.PROCESSED or "at" not in edge.props:
            continue
        at: dt.datetime = edge.props["at"]
        events = history.get(edge.src, [])
        keep = keep_maintenance(events, at)
        calibrations = [n for n in events if n.props.get("kind") == "calibration"]
        before = [n for n in calibrations if n.props["performed_at"] < at]
        after = [n for n in calibrations if n.props["performed_at"] >= at]
        kept.update(keep)
        uses.append(
            Use(
                equipment=edge.src,
                batch=edge.dst,
                at=at,
                calibration_before=before[-1].key if before else None,
                calibration_after=after[0].key if after else None,
                maintenance=tuple(sorted(keep)),
            )
        )
    uses.sort(key=lambda u: (u.equipment, u.at, u.batch))
    return uses, kept


def keep_maintenance(events: Sequence[StoredNode], at: dt.datetime) -> set[str]:
    """The maintenance that bears on one use of the equipment at ``at``: the last event before
    the use and the first at or after it, the last calibration before and the first at or after
    (whatever lies between), and every event within `MAINTENANCE_WINDOW` of the use.

    ``events`` are one piece of equipment's maintenance, oldest first.
    """
    keep: set[str] = set()
    calibrations = [n for n in events if n.props.get("kind") == "calibration"]
    for group in (events, calibrations):
        before = [n for n in group if n.props["performed_at"] < at]
        after = [n for n in group if n.props["performed_at"] >= at]
        if before:
            keep.add(before[-1].key)
        if after:
            keep.add(after[0].key)
    keep.update(n.key for n in events if abs(n.props["performed_at"] - at) <= MAINTENANCE_WINDOW)
    return keep


def _lot_certificates(
    nodes: Mapping[str, StoredNode], edges: Sequence[StoredEdge], certifies: Sequence[StoredEdge]
) -> list[LotCertificates]:
    certs: dict[str, list[str]] = defaultdict(list)
    for edge in certifies:
        certs[edge.dst].append(edge.src)
    out = []
    for edge in edges:
        if edge.type is not R.SUPPLIED:
            continue
        received: dt.datetime = nodes[edge.dst].props["received_at"]
        day = received.astimezone(dt.UTC).date()
        held = sorted(certs.get(edge.src, []))
        valid = tuple(
            c for c in held if nodes[c].props["valid_from"] <= day <= nodes[c].props["valid_to"]
        )
        out.append(LotCertificates(edge.dst, edge.src, day, tuple(held), valid))
    out.sort(key=lambda c: (c.lot, c.supplier))
    return out


# --------------------------------------------------------------------------- findings


def _rule(rule_id: str) -> Rule:
    return RULES[RULE_ORDER[rule_id]]


def _finding(rule_id: str, subject: str, message: str, evidence: Iterable[str]) -> Finding:
    rule = _rule(rule_id)
    return Finding(rule.id, rule.severity, subject, message, tuple(dict.fromkeys(evidence)))


def _day(value: Any) -> str:
    """A date or an instant as ISO 8601 text."""
    return str(iso(value))


def _certificate_findings(
    nodes: Mapping[str, StoredNode], lot_certs: Sequence[LotCertificates]
) -> Iterator[Finding]:
    for c in lot_certs:
        if c.covered:
            continue
        if c.certificates:
            spans = "; ".join(
                f"{k} {_day(nodes[k].props['valid_from'])}..{_day(nodes[k].props['valid_to'])}"
                for k in c.certificates
            )
            message = (
                f"{c.lot} was received on {c.received_on.isoformat()} from {c.supplier}, outside "
                f"the validity of every certificate of that supplier ({spans})"
            )
        else:
            message = (
                f"{c.lot} was received on {c.received_on.isoformat()} from {c.supplier}, which "
                "has no certificate on record"
            )
        yield _finding(
            "lot-outside-certificate", c.lot, message, (c.lot, c.supplier, *c.certificates)
        )


def _calibration_findings(
    nodes: Mapping[str, StoredNode], uses: Sequence[Use]
) -> Iterator[Finding]:
    def failed(key: str | None) -> bool:
        return key is not None and nodes[key].props.get("result") == "fail"

    def when(key: str) -> str:
        return _day(nodes[key].props["performed_at"])

    for use in uses:
        used = f"{use.batch} was processed on {use.equipment} at {iso(use.at)}"
        if failed(use.calibration_before):
            assert use.calibration_before is not None
            yield _finding(
                "calibration-failed-before-use",
                use.batch,
                f"{used}; its last calibration before that, {use.calibration_before} on "
                f"{when(use.calibration_before)}, failed",
                (use.batch, use.equipment, use.calibration_before),
            )
        elif failed(use.calibration_after):
            assert use.calibration_after is not None
            since = (
                f"after the passing calibration {use.calibration_before} on "
                f"{when(use.calibration_before)}"
                if use.calibration_before is not None
                else "with no calibration before it"
            )
            yield _finding(
                "calibration-failed-after-use",
                use.batch,
                f"{used}, {since}, and its next calibration, {use.calibration_after} on "
                f"{when(use.calibration_after)}, failed",
                (
                    use.batch,
                    use.equipment,
                    *([use.calibration_before] if use.calibration_before else []),
                    use.calibration_after,
                ),
            )


def _inspection_findings(
    nodes: Mapping[str, StoredNode], inspected: Sequence[StoredEdge]
) -> Iterator[Finding]:
    by_subject: dict[tuple[str, str], list[StoredNode]] = defaultdict(list)
    for edge in inspected:
        record = nodes[edge.src]
        by_subject[(edge.dst, str(record.props.get("kind")))].append(record)
    for (subject, kind), records in sorted(by_subject.items()):
        passes = [r.props["performed_at"] for r in records if r.props.get("result") == "pass"]
        open_fails = sorted(
            (
                r
                for r in records
                if r.props.get("result") == "fail"
                and not any(p > r.props["performed_at"] for p in passes)
            ),
            key=lambda r: (r.props["performed_at"], r.key),
        )
        if not open_fails:
            continue
        last = open_fails[-1]
        yield _finding(
            "failed-inspection-without-pass",
            subject,
            f"{subject} failed its {kind} inspection {last.key} on "
            f"{_day(last.props['performed_at'])} and no later {kind} inspection passed",
            (subject, *(r.key for r in open_fails)),
        )


def _held_batch_findings(
    nodes: Mapping[str, StoredNode], edges: Sequence[StoredEdge]
) -> Iterator[Finding]:
    """Devices downstream of a held batch within the chain: produced by it, or holding a
    sub-assembly built from it (CONSUMED_IN batch → batch, INSTALLED_IN device → device)."""
    step: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e.type in (R.PRODUCED, R.INSTALLED_IN) or (
            e.type is R.CONSUMED_IN and key_type(e.src) is E.Batch
        ):
            step[e.src].append(e.dst)
    held = sorted(
        k
        for k, n in nodes.items()
        if key_type(k) is E.Batch and n.props.get("status") in HELD_STATUSES
    )
    for batch in held:
        status = nodes[batch].props["status"]
        parent: dict[str, str | None] = {batch: None}
        queue = deque([batch])
        while queue:
            here = queue.popleft()
            for nxt in sorted(step.get(here, ())):
                if nxt not in parent:
                    parent[nxt] = here
                    queue.append(nxt)
        for device in sorted(k for k in parent if key_type(k) is E.Device):
            path: list[str] = []
            at: str | None = device
            while at is not None:
                path.append(at)
                at = parent[at]
            path.reverse()
            how = (
                f"was produced by {batch}"
                if len(path) == 2
                else f"comes from {batch} through {' → '.join(path[1:-1])}"
            )
            yield _finding(
                "device-from-held-batch",
                device,
                f"{device} {how}, which is {status}",
                path,
            )


# --------------------------------------------------------------------------- timeline

_FIELD_WORDS: Final[Mapping[str, str]] = {
    "received_at": "received",
    "started_at": "started",
    "completed_at": "completed",
    "manufactured_at": "manufactured",
    "shipped_at": "shipped",
    "reported_at": "reported",
    "effective_at": "effective",
    "valid_from": "valid from",
    "valid_to": "valid until",
}


def _describe(node: StoredNode, name: str) -> str:
    p = node.props
    kind = key_type(node.key)
    if kind is E.MaintenanceEvent:
        return f"{p.get('kind')} {p.get('result')}"
    if kind is E.Inspection:
        return f"{p.get('kind')} inspection {p.get('result')}"
    if kind is E.ServiceEvent:
        return f"service: {p.get('kind')}"
    if kind is E.Complaint:
        return f"complaint reported ({p.get('severity')})"
    if kind is E.ChangeOrder:
        return f"change {p.get('kind')} effective ({p.get('status')})"
    if kind is E.Certificate:
        return f"{p.get('kind')} {_FIELD_WORDS[name]}"
    return _FIELD_WORDS.get(name, name)


def _timeline(nodes: Mapping[str, StoredNode], edges: Sequence[StoredEdge]) -> list[Fact]:
    """Every dated field of every node and edge in the chain, by time then key."""
    # The record a fact is about: an inspection's subject, a maintenance event's equipment, ...
    about: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e.type in (R.INSPECTED, R.MAINTAINS, R.CERTIFIES, R.HAS_SERVICE, R.HAS_COMPLAINT):
            record, target = (
                (e.dst, e.src)
                if e.type in (R.HAS_SERVICE, R.HAS_COMPLAINT)
                else (
                    e.src,
                    e.dst,
                )
            )
            about[record].append(target)
    facts: list[Fact] = []
    for key, node in nodes.items():
        for name in TEMPORAL_FIELDS[str(node.type)]:
            value = node.props.get(name)
            if value is None:
                continue
            detail = _describe(node, name)
            related = sorted(about.get(key, ()))
            facts.append(Fact(value, key, name, detail, ", ".join(related) or None))
    words = {
        R.PROCESSED: "processed on",
        R.CONSUMED_IN: "consumed",
        R.INSTALLED_IN: "installed",
    }
    for e in edges:
        for name in TEMPORAL_FIELDS[str(e.type)]:
            value = e.props.get(name)
            if value is None:
                continue
            verb = words.get(e.type, str(e.type))
            qty = e.props.get("quantity")
            detail = f"{verb} {e.src}" + (f" (quantity {qty:g})" if qty is not None else "")
            facts.append(Fact(value, e.dst, str(e.type), detail, e.src))
    return sorted(facts, key=Fact.sort_key)


def timeline_csv(chain: EvidenceChain) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["at", "key", "type", "fact", "detail", "related"])
    for f in chain.timeline:
        row = f.as_json()
        writer.writerow([row[c] if row[c] is not None else "" for c in row])
    return buffer.getvalue()


# --------------------------------------------------------------------------- the package

PAYLOAD: Final = ("data/evidence.json", "data/report.html", "data/timeline.csv")
MANIFEST: Final = "manifest-sha256.txt"
TAGMANIFEST: Final = "tagmanifest-sha256.txt"
#: Every file a TraceGraph package holds; verification names any of them that is missing.
REQUIRED: Final = ("bag-info.txt", "bagit.txt", MANIFEST, TAGMANIFEST, *PAYLOAD)


def evidence_json(chain: EvidenceChain) -> bytes:
    """The chain as canonical JSON: keys sorted, the same bytes for the same store."""
    return (
        orjson.dumps(
            chain.as_json(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2, default=iso
        )
        + b"\n"
    )


def bag_info(chain: EvidenceChain, generated_at: dt.datetime) -> dict[str, str]:
    from tracegraph import __version__  # here: tracegraph/__init__ may import this module

    return {
        "Source-Organization": "TraceGraph",
        "External-Identifier": chain.subject,
        "External-Description": (
            f"Evidence chain of {chain.subject}: {len(chain.nodes)} nodes, "
            f"{len(chain.findings)} finding{'' if len(chain.findings) == 1 else 's'}"
        ),
        "TraceGraph-Query": f"evidence {chain.subject}",
        "TraceGraph-As-Of": iso(chain.as_of or generated_at),
        "TraceGraph-Generated-At": iso(generated_at),
        "TraceGraph-Version": __version__,
        "TraceGraph-Findings": str(len(chain.findings)),
        "Bagging-Date": generated_at.date().isoformat(),
        "Bag-Software-Agent": f"tracegraph {__version__}",
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bag_files(chain: EvidenceChain, generated_at: dt.datetime) -> dict[str, bytes]:
    """Every file of the bag, by its path inside the bag.

    The bag is laid out here rather than by ``bagit.make_bag``, which works by ``os.chdir``
    (process-wide: unsafe in the threaded API server); ``bagit`` then validates what was
    written, so the package is checked against the library's reading of RFC 8493.
    """
    from tracegraph.report import render_report

    doc = chain.as_json()
    payload = {
        "data/evidence.json": evidence_json(chain),
        "data/timeline.csv": timeline_csv(chain).encode(),
        "data/report.html": render_report(doc, bag_info(chain, generated_at)).encode(),
    }
    info = bag_info(chain, generated_at)
    info["Payload-Oxum"] = f"{sum(len(b) for b in payload.values())}.{len(payload)}"
    tags = {
        "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in info.items()).encode(),
        MANIFEST: "".join(
            f"{_sha256(b)}  {name}\n" for name, b in sorted(payload.items())
        ).encode(),
    }
    tags[TAGMANIFEST] = "".join(
        f"{_sha256(b)}  {name}\n" for name, b in sorted(tags.items())
    ).encode()
    return {**payload, **tags}


def write_package(
    chain: EvidenceChain, out: Path, *, generated_at: dt.datetime | None = None
) -> Path:
    """Write the chain as a BagIt bag: a folder, or a zip when ``out`` ends with ``.zip`` (one
    top-level folder named after the zip, as BagIt serialisation expects). An existing file or
    a non-empty folder at ``out`` is never overwritten."""
    out = Path(out)
    when = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    if out.exists() and (out.is_file() and out.stat().st_size > 0):
        raise BadInput(f"{out}: already exists; evidence never overwrites a file")
    if out.is_dir() and (any(out.iterdir()) or out.suffix.lower() == ".zip"):
        raise BadInput(f"{out}: a folder that is not empty; give a new path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{out.parent}: cannot create the folder: {exc.strerror}") from None
    files = _bag_files(chain, when)
    with tempfile.TemporaryDirectory(prefix=".tracegraph-bag-", dir=out.parent) as tmp:
        bag = Path(tmp) / "bag"
        for name, data in files.items():
            target = bag / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        _check_with_bagit(bag)
        if out.suffix.lower() == ".zip":
            staged = Path(tmp) / "bag.zip"
            _zip(bag, out.stem, staged, when)
            os.replace(staged, out)
        else:
            with contextlib.suppress(FileNotFoundError):
                out.rmdir()  # an empty folder given as the target
            os.rename(bag, out)
    return out


def _check_with_bagit(bag: Path) -> None:
    import bagit

    try:
        bagit.Bag(str(bag)).validate()
    except bagit.BagError as exc:  # our writer disagrees with the library: a bug, say so
        raise RuntimeError(f"the written bag does not validate: {exc}") from exc


def _zip(bag: Path, root: str, target: Path, when: dt.datetime) -> None:
    stamp = when.timetuple()[:6]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in bag.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{root}/{path.relative_to(bag).as_posix()}", stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())


# --------------------------------------------------------------------------- verification


@dataclass
class VerifyReport:
    """What `verify_package` found: every altered, missing and added file by its path in the
    bag, and any other problem (a malformed manifest, an unreadable zip member)."""

    path: str
    files: int = 0
    altered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.altered or self.missing or self.added or self.problems)

    def lines(self) -> list[str]:
        return [
            *(f"altered: {n}" for n in self.altered),
            *(f"missing: {n}" for n in self.missing),
            *(f"added: {n}" for n in self.added),
            *self.problems,
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "intact": self.ok,
            "files_checked": self.files,
            "altered": self.altered,
            "missing": self.missing,
            "added": self.added,
            "problems": self.problems,
            "bag_info": self.info,
        }


Opener = Callable[[], IO[bytes]]


def verify_package(path: Path) -> VerifyReport:
    """Check a package (folder or zip) against its manifests. A path that is no BagIt package
    at all is bad input; a package that fails is a report that is not `ok`."""
    path = Path(path)
    if path.is_dir():
        files = {
            p.relative_to(path).as_posix(): (lambda p=p: p.open("rb"))
            for p in path.rglob("*")
            if p.is_file() or p.is_symlink()
        }
        _require_bag(path, files)
        report = _verify(str(path), files)
        if report.ok:
            _cross_check(path, report)
        return report
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                return _verify_zip(path, zf)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BadInput(f"{path}: cannot read the zip: {exc}") from None
    if not path.exists():
        raise BadInput(f"{path}: no such file or folder")
    raise BadInput(f"{path}: not a BagIt package (a folder or a .zip)")


def _require_bag(path: Path | str, files: Mapping[str, Any]) -> None:
    if not any(n == "bagit.txt" or re.fullmatch(r"(tag)?manifest-\w+\.txt", n) for n in files):
        raise BadInput(f"{path}: not a BagIt package (no bagit.txt and no manifest)")


def _verify_zip(path: Path, zf: zipfile.ZipFile) -> VerifyReport:
    members = [i for i in zf.infolist() if not i.is_dir()]
    names = [i.filename for i in members]
    roots = sorted(
        {n[: -len("bagit.txt")] for n in names if n == "bagit.txt" or n.endswith("/bagit.txt")}
    )
    roots = [r for r in roots if r.count("/") <= 1]
    if not roots:  # bagit.txt itself removed: find the folder by its manifests
        roots = sorted(
            {m[1] for n in names if (m := re.fullmatch(r"([^/]*/)(tag)?manifest-\w+\.txt", n))}
        )
    if len(roots) != 1:
        raise BadInput(f"{path}: not a BagIt package (no single bag folder with a bagit.txt)")
    root = roots[0]
    files: dict[str, Opener] = {}
    outside: list[str] = []
    duplicates: list[str] = []
    for info in members:
        if not info.filename.startswith(root):
            outside.append(info.filename)
            continue
        name = info.filename[len(root) :]
        if name in files:
            duplicates.append(name)
        files[name] = _member(zf, info)
    report = _verify(str(path), files)
    report.added = sorted({*report.added, *outside})
    report.problems += [f"duplicate zip member: {root}{n}" for n in sorted(set(duplicates))]
    return report


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Opener:
    return lambda: zf.open(info)


def _decode_path(text: str) -> str:
    return re.sub(
        r"%(0[aAdD]|25)", lambda m: {"0a": "\n", "0d": "\r", "25": "%"}[m[1].lower()], text
    )


def _read(opener: Opener) -> bytes:
    with opener() as handle:
        return handle.read()


def _digest(opener: Opener, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with opener() as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest(name: str, opener: Opener, problems: list[str]) -> dict[str, str]:
    entries: dict[str, str] = {}
    try:
        text = _read(opener).decode("utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        problems.append(f"{name}: unreadable: {exc}")
        return entries
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9a-fA-F]+)[ \t]+(.+)", line)
        if match is None:
            problems.append(f"{name}:{number}: not a 'checksum path' line")
            continue
        target = _decode_path(match[2])
        pure = PurePosixPath(target)
        if pure.is_absolute() or ".." in pure.parts:
            problems.append(f"{name}:{number}: {target!r} points outside the bag")
            continue
        entries[target] = match[1].lower()
    return entries


def _verify(path: str, files: Mapping[str, Opener]) -> VerifyReport:
    report = VerifyReport(path=path)
    problems: list[str] = report.problems
    algorithms = hashlib.algorithms_available
    manifests: dict[str, dict[str, dict[str, str]]] = {"manifest": {}, "tagmanifest": {}}
    for name in sorted(files):
        match = re.fullmatch(r"(tag)?manifest-(\w+)\.txt", name)
        if match is None:
            continue
        kind = "tagmanifest" if match[1] else "manifest"
        if match[2] not in algorithms:
            problems.append(f"{name}: unknown checksum algorithm {match[2]!r}")
            continue
        manifests[kind][match[2]] = _manifest(name, files[name], problems)

    listed: set[str] = set()
    altered: set[str] = set()
    missing: set[str] = {n for n in REQUIRED if n not in files}
    for kind, by_alg in manifests.items():
        for algorithm, entries in sorted(by_alg.items()):
            for target, digest in sorted(entries.items()):
                in_data = target.startswith("data/")
                if in_data != (kind == "manifest"):
                    where = "the payload manifest" if kind == "manifest" else "a tag manifest"
                    problems.append(f"{target}: listed in {where}, where it does not belong")
                    continue
                listed.add(target)
                if target not in files:
                    missing.add(target)
                    continue
                report.files += 1
                try:
                    if _digest(files[target], algorithm) != digest:
                        altered.add(target)
                except OSError as exc:
                    problems.append(f"{target}: unreadable: {exc}")
    tag_listed = bool(manifests["tagmanifest"])
    for name in files:
        if name in listed or re.fullmatch(r"tagmanifest-\w+\.txt", name):
            continue
        if name.startswith("data/") or tag_listed:
            report.added.append(name)
    report.altered = sorted(altered)
    report.missing = sorted(missing)
    report.added = sorted(report.added)
    if "bag-info.txt" in files:
        report.info = _bag_info(files["bag-info.txt"])
    if report.ok:
        _check_oxum(report, files)
    return report


def _bag_info(opener: Opener) -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = _read(opener).decode("utf-8", errors="replace")
    except OSError:
        return info
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            info[name.strip()] = value.strip()
    return info


def _check_oxum(report: VerifyReport, files: Mapping[str, Opener]) -> None:
    oxum = report.info.get("Payload-Oxum")
    if not oxum:
        return
    payload = [n for n in files if n.startswith("data/")]
    size = sum(len(_read(files[n])) for n in payload)
    if oxum != f"{size}.{len(payload)}":
        report.problems.append(
            f"bag-info.txt: Payload-Oxum {oxum} does not match the payload ({size}.{len(payload)})"
        )


def _cross_check(path: Path, report: VerifyReport) -> None:
    """bagit's own validation, as a second opinion on a bag our checks passed."""
    import bagit

    try:
        bagit.Bag(str(path)).validate()
    except bagit.BagError as exc:
        report.problems.append(f"bagit: {exc}")
