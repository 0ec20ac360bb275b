"""Cases survive workers and the server killed with SIGKILL at random moments, and refund the right amount once.

200 return cases run from request to refund on the embedded dev server (persisting to SQLite) while
a chaos loop kills the worker process with SIGKILL and starts a new one, and takes the server down
three times with cases in flight:

- SIGKILL of the server's whole process group while the worker keeps running (it must ride it out),
- a graceful restart (SIGTERM) while the worker is dead,
- SIGKILL of the server and the worker at the same moment.

Each time the server comes back on the same SQLite file. Backend calls are retried with the same
idempotency keys, as a real backend would. The worker delivers effects by webhook to a receiver in
this test, which answers 503 to the first delivery of every effect of one case in six, so that
retries are certain to happen and not only when a kill lands inside an activity. At the end:

- every case is refunded and closed; every event the backend sent was applied exactly once, in order
  (the case's own audit trail); nothing acknowledged before a server kill was lost;
- every case's facts reached the ledger exactly once: its rows in every table are those
  `ledger.facts.facts_of` makes of its final timeline (computed here from the `timeline` query),
  none missing, none twice; its case row is closed with the refund computed from the data sent;
- each case's effects are exactly those its policy takes on this path: four notifications and one
  refund of the item's price times its quantity, computed here from the data the test sent;
- every effect row is the case's own (its idempotency key, the receiver's copy), was delivered and
  stamped delivered; the receiver got only signed, identical copies of it (a POST cut short by a
  kill between its headers and its body is counted apart: nobody answered it), never more POSTs than the
  outbox counted attempts, and the outbox never more attempts than Temporal started; every effect the
  workflow scheduled is in the outbox and completed. A second accepted POST of one effect is allowed
  (counted): a worker killed between the POST and the stamp sends it again with the same key, and
  receivers dedupe on it (activities/case_activities.py, WebhookDeliverySink).

The cases are bench.cases' returns with 1 to 3 items at prices with cents and freight in the order's
amount, so that refunding one item, the order's amount, or rounding the wrong way shows.

AFTERSALES_CHAOS_CASES and AFTERSALES_CHAOS_SEED change the size and the moments of the kills.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest_asyncio
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from activities.outbox import Outbox
from activities.webhook import KEY_HEADER, verify_request
from aftersales_cli.devserver import answers, free_port, start_dev_server, stop, wait_until_ready
from bench.cases import RETURN_EVENTS, return_case_data
from ledger.facts import Row, facts_of
from ledger.opening import CaseOpening, time_base_of
from ledger.schema import metadata
from policy_engine.language import load_policy_set
from starter import CaseError, EventRefused
from tests.principal import DATA_CONVERTER, process_env, signed_client
from workflows.contract import QUERY_TIMELINE, CaseStatus, Timeline, workflow_id_for

ROOT = Path(__file__).resolve().parents[2]
CASES = int(os.environ.get("AFTERSALES_CHAOS_CASES", "200"))
SEED = int(os.environ.get("AFTERSALES_CHAOS_SEED", "20261125"))
TASK_QUEUE = "aftersales-chaos"
SECRET = "chaos-webhook-secret-of-enough-length"
FAIL_FIRST_EVERY = 6  # cases n % 6 == 0: the receiver refuses (503) the first delivery of each of their effects
# The chaos plan, in order; it stops early when the cases are done, and after it the worker is left
# alone to finish them. The server outages come early, while many cases are in flight.
PLAN = ["worker", "server-kill", "worker", "server-stop", "worker", "both-kill", *["worker"] * 7]  # 12 worker kills
# What policies/returns.yaml does along RETURN_EVENTS: a notification when the request comes in, when
# the merchant approves, when the parcel is back and when the money is; the refund on receipt.
NOTIFICATIONS = [
    ("new_request", ["merchant"]),
    ("request_approved", ["customer"]),
    ("return_arrived", ["merchant"]),
    ("refunded", ["customer"]),
]
T = TypeVar("T")


def case_id_of(n: int) -> str:
    return f"CHAOS-{n:04d}"


def chaos_case_data(n: int, now: dt.datetime) -> dict[str, Any]:
    """bench.cases' return, with 1 to 3 items at a price with cents and freight in the order's amount:
    refunding the order's amount, one item, or rounding the wrong way gives another figure."""
    data = return_case_data(n, now)
    price = Decimal(100 + n % 900) + Decimal(n * 37 % 100) / 100
    quantity = 1 + n % 3
    data["item"] = {**data["item"], "price": float(price), "quantity": quantity}
    data["order"] = {**data["order"], "amount": float(price * quantity + 10)}
    return data


def expected_refund(data: dict[str, Any]) -> Decimal:
    """What a return refunds (returns.yaml, state `refunding`): the item's price times its quantity, to
    the cent, when the case names no `refund_amount`. From the data the test sent, not from the engine."""
    assert data.get("refund_amount") is None, "the chaos cases refund the item: no refund_amount"
    item = data["item"]
    amount = (Decimal(str(item["price"])) * int(item["quantity"])).quantize(Decimal("0.01"))
    assert 0 < amount < Decimal(str(data["order"]["amount"])), "test data: the refund is not the order's amount"
    return amount


# --- the webhook receiver -------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    key: str
    status: int
    body: bytes
    signed: bool
    # False when the connection closed before the declared body arrived: the worker was killed
    # between sending the headers and the body (http.client sends them apart). Nobody got an answer,
    # the request is nothing a receiver acts on, and the worker's retry sends it whole.
    complete: bool = True


class Receiver:
    """Receives the worker's effects (AFTERSALES_SINK=webhook) and keeps every POST it answered."""

    def __init__(self, fail_first: Callable[[str], bool]) -> None:
        self.deliveries: list[Delivery] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                declared = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(declared)
                key = self.headers.get(KEY_HEADER) or ""
                signed = verify_request(dict(self.headers), body, SECRET) is None
                if len(body) < declared:
                    with receiver._lock:
                        receiver.deliveries.append(Delivery(key, 0, body, signed, complete=False))
                    self.close_connection = True
                    return
                with receiver._lock:
                    first = key not in receiver._seen
                    receiver._seen.add(key)
                    status = 503 if first and fail_first(key) else 200
                    receiver.deliveries.append(Delivery(key, status, body, signed))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="chaos-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/effects"

    def by_key(self) -> dict[str, list[Delivery]]:
        with self._lock:
            grouped: dict[str, list[Delivery]] = {}
            for d in self.deliveries:
                grouped.setdefault(d.key, []).append(d)
            return grouped

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def test_receiver_keeps_a_post_cut_short_apart() -> None:
    """A sender gone after the headers leaves a short body: kept as incomplete, and the key not seen."""
    import socket

    from activities.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    receiver = Receiver(lambda key: True)
    try:
        port = int(receiver.url.split(":")[2].split("/")[0])
        body = b'{"key":"CHAOS-0001/0/notify"}'
        stamp = str(int(time.time()))
        head = (
            f"POST /effects HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"{KEY_HEADER}: CHAOS-0001/0/notify\r\n{TIMESTAMP_HEADER}: {stamp}\r\n"
            f"{SIGNATURE_HEADER}: {sign(body, SECRET, timestamp=stamp, key='CHAOS-0001/0/notify')}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as cut:
            cut.sendall(head + body[:5])
        with socket.create_connection(("127.0.0.1", port)) as whole:
            whole.sendall(head + body)
            assert whole.recv(100).startswith(b"HTTP/1.0 503")  # the first complete POST is the one failed
        deadline = time.monotonic() + 5
        while len(receiver.deliveries) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        first, second = sorted(receiver.deliveries, key=lambda d: d.complete)
        assert (first.complete, first.status, first.signed) == (False, 0, False)
        assert (second.complete, second.status, second.signed, second.body) == (True, 503, True, body)
    finally:
        receiver.close()


def fails_first(key: str) -> bool:
    case_id = key.split("/", 1)[0]
    return int(case_id.rsplit("-", 1)[1]) % FAIL_FIRST_EVERY == 0


# --- the processes --------------------------------------------------------------------------------


def _group_members(pgid: int) -> dict[int, str]:
    """Processes of a process group still alive (zombies, already dead, are left out), with their name."""
    members: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _ppid, group = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            members[int(entry.name)] = name
    return members


@dataclass
class Cluster:
    """The dev server and worker processes the chaos loop kills and restarts."""

    folder: Path
    receiver: Receiver
    address: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    worker_starts: int = 0
    server_group: dict[int, str] = field(default_factory=dict)  # what the last server SIGKILL killed
    hot_journals: int = 0  # server SIGKILLs that left SQLite a journal to recover from at the restart
    worker_exits: list[int] = field(default_factory=list)  # exit codes of workers nobody killed

    @property
    def database_url(self) -> str:
        """The ledger's database, which holds the outbox too (AFTERSALES_OUTBOX is not set)."""
        return f"sqlite:///{self.folder / 'aftersales.sqlite3'}"

    @property
    def db_file(self) -> Path:
        return self.folder / "dev.sqlite3"

    def start_server(self) -> None:
        # In a session of its own: its process group holds the server and anything it starts.
        assert not answers(self.address), f"something already listens at {self.address}"
        self.server = start_dev_server(
            self.address, db_file=self.db_file, log_file=self.folder / "server.log", headless=True, own_session=True
        )
        wait_until_ready(self.address, self.server, log_file=self.folder / "server.log")

    def stop_server(self) -> None:
        """SIGTERM; a server still busy after 15 s is killed (its SQLite file keeps what was committed)."""
        if self.server is not None:
            stop(self.server, timeout=15)
            self.server = None

    def crash_server(self) -> None:
        """SIGKILL to the server's whole process group; returns once every process of it is gone."""
        assert self.server is not None
        pgid = self.server.pid  # the leader of its own session and group
        self.server_group = _group_members(pgid)
        assert self.server.pid in self.server_group, "the server is not running"
        os.killpg(pgid, signal.SIGKILL)
        self.server.wait()
        self.server = None
        deadline = time.monotonic() + 30
        while survivors := _group_members(pgid):
            assert time.monotonic() < deadline, f"SIGKILL left processes of the server's group alive: {survivors}"
            time.sleep(0.05)
        assert not answers(self.address), f"the server is dead but something still answers at {self.address}"
        if Path(f"{self.db_file}-journal").exists() or Path(f"{self.db_file}-wal").exists():
            self.hot_journals += 1

    def start_worker(self) -> None:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": self.address,
            "AFTERSALES_TASK_QUEUE": TASK_QUEUE,
            "AFTERSALES_POLICY_DIR": str(ROOT / "policies"),
            "AFTERSALES_LOG_FORMAT": "json",
            "AFTERSALES_SINK": "webhook",
            "AFTERSALES_WEBHOOK_URLS": self.receiver.url,
            "AFTERSALES_WEBHOOK_SECRET": SECRET,
            "AFTERSALES_WEBHOOK_ALLOW_HTTP": "true",  # the receiver is a local test server
            "AFTERSALES_WEBHOOK_ALLOW_INTERNAL": "true",
            **process_env(self.folder),
            "AFTERSALES_DATABASE_URL": self.database_url,  # the ledger the test checks
        }
        with (self.folder / f"worker-{self.worker_starts}.log").open("wb") as log:
            self.worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, stdout=log, stderr=log)
        self.worker_starts += 1

    def kill_worker(self) -> None:
        if self.worker is not None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
            self.worker = None

    def crash_both(self) -> None:
        """SIGKILL to the worker and, at once, to the server's group."""
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.crash_server()
        self.worker.wait()
        self.worker = None

    def note_worker_exit(self) -> None:
        """A worker that exited without being killed (it gave up on a server that went away)."""
        if self.worker is not None and self.worker.poll() is not None:
            self.worker_exits.append(self.worker.returncode)
            self.worker = None

    def stop_all(self) -> None:
        self.kill_worker()
        self.stop_server()


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    receiver = Receiver(fails_first)
    c = Cluster(tmp_path, receiver)
    c.start_server()
    c.start_worker()
    try:
        yield c
    finally:
        c.stop_all()
        receiver.close()
        # Openings cancelled from outside (this backend's own 20 s limit, while the server or worker
        # was down) leave the SDK's start-operation future holding a CancelledError nobody reads
        # (CaseClient.open reads it after a failed or timed-out open, but a cancelled call cannot
        # wait). Garbage-collected later, asyncio logs it
        # ("Future exception was never retrieved") with a traceback, which Python 3.11 formats with
        # ast.parse. When that collection happens inside pytest's own ast.parse of a module imported
        # at the session's end (the hypothesis plugin imports hypothesis in its terminal summary when
        # no test did), the nested parse corrupts the outer one's recursion count: "SystemError: AST
        # constructor recursion depth mismatch". Collected here, they are logged now, outside any parse.
        gc.collect()


# --- the backend ----------------------------------------------------------------------------------


@dataclass
class Progress:
    """What the backend has been told: cases opened, events acknowledged, cases driven to the end."""

    opened: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    acknowledged: dict[str, list[str]] = field(default_factory=dict)  # case -> states answered, in order

    def in_flight(self) -> int:
        return len(self.opened - self.finished)


async def _persist(call: Callable[[], Awaitable[T]], what: str, attempts: int = 200) -> T:
    """Retry a backend call through worker kills and server restarts, as a backend would."""
    delay = 0.2
    for _ in range(attempts):
        try:
            return await asyncio.wait_for(call(), timeout=20)
        except (RPCError, CaseError, TimeoutError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from None
            if isinstance(exc, EventRefused) and "still opening" not in str(exc):
                raise  # a real refusal, or the case has closed: retrying will not change the answer
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)
    raise AssertionError(f"{what}: gave up after {attempts} attempts")


async def _drive(
    client: Client, n: int, case_data: dict[str, Any], gate: asyncio.Semaphore, progress: Progress
) -> None:
    cases = signed_client(client, TASK_QUEUE)
    case_id = case_id_of(n)
    async with gate:
        await _persist(partial(cases.open, "return", case_id, case_data), f"open {case_id}")
        progress.opened.add(case_id)
        for i, (name, role, data) in enumerate(RETURN_EVENTS):
            # The case's own parties send their events (a return binds them: anyone else is refused).
            actor = {"merchant": case_data["order"]["merchant_id"], "customer": case_data["customer"]["id"]}.get(
                role, "carrier"
            )
            send = partial(cases.event, case_id, name, role, actor, data, key=f"{case_id}/{i}")
            try:
                status = await _persist(send, f"{name} {case_id}")
            except EventRefused as exc:
                # Only the last event may find the case closed: its answer was lost in a kill.
                assert "closed" in str(exc) and i == len(RETURN_EVENTS) - 1, f"{case_id} {name}: {exc}"
                continue
            progress.acknowledged.setdefault(case_id, []).append(status.state)
    progress.finished.add(case_id)


@dataclass(frozen=True)
class Outage:
    kind: str
    in_flight: int  # cases opened and not yet driven to the end when the server went down


async def _chaos(
    cluster: Cluster,
    done: asyncio.Event,
    rng: random.Random,
    progress: Progress,
    kills: list[str],
    outages: list[Outage],
) -> None:
    for step in PLAN:
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        if done.is_set():
            break
        # A server outage is for cases in flight: wait until there are some (they come within seconds).
        while step != "worker" and progress.in_flight() < min(10, CASES - len(progress.finished)):
            if done.is_set():
                return
            await asyncio.sleep(0.1)
        cluster.note_worker_exit()
        in_flight = progress.in_flight()
        if step == "worker":
            cluster.kill_worker()
            kills.append("worker")
        elif step == "server-kill":
            # The worker keeps running through the outage: it must reconnect by itself.
            await asyncio.to_thread(cluster.crash_server)
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await asyncio.to_thread(cluster.start_server)
        elif step == "server-stop":
            cluster.kill_worker()
            kills.append("worker")
            await asyncio.to_thread(cluster.stop_server)
            await asyncio.to_thread(cluster.start_server)
        elif step == "both-kill":
            await asyncio.to_thread(cluster.crash_both)
            kills.append("worker")
            await asyncio.to_thread(cluster.start_server)
        if step != "worker":
            outages.append(Outage(step, in_flight))
        print(f"chaos: {step} ({len(kills)} worker kills so far, {in_flight} cases in flight)", flush=True)
        if cluster.worker is None:
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            cluster.start_worker()


# --- the ledger -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A column's value comparable across the two sides: times in naive UTC (SQLite keeps no
    offset), amounts as decimals (written as floats, read back as Decimal)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _keyed(rows: list[Row], key: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row[k] for k in key): {k: _plain(v) for k, v in row.items()} for row in rows}


def check_ledger(database_url: str, sent: dict[str, dict[str, Any]], timelines: dict[str, Timeline]) -> None:
    """Every case's ledger rows are the facts of its final timeline: none missing, none twice."""
    policy = load_policy_set([ROOT / "policies"]).for_case_type("return")[-1].policy
    clocks = {name: time_base_of(clock) for name, clock in policy.sla.items()}
    engine = sa.create_engine(database_url)
    tables = [t for t in metadata.sorted_tables if t.name not in ("cases", "effects")]
    wrong: dict[str, Any] = {}
    try:
        with engine.connect() as db:
            ledger: dict[str, dict[str, list[Row]]] = {}
            for table in [metadata.tables["cases"], *tables]:
                for row in db.execute(sa.select(table).where(table.c.case_id.in_(sent))):
                    ledger.setdefault(row.case_id, {}).setdefault(table.name, []).append(dict(row._mapping))
    finally:
        engine.dispose()
    for case_id, data in sent.items():
        timeline = timelines[case_id]
        opening = CaseOpening(
            case_id=case_id,
            case_type="return",
            merchant=data["order"]["merchant_id"],
            category=data["item"]["category"],
            channel=data["channel"],
            policy_id=timeline.policy_id,
            policy_version=timeline.policy_version,
            opened_at=timeline.entries[0].at,
            clocks=clocks,
        )
        facts = facts_of(opening, timeline.entries)
        mine = ledger.get(case_id, {})
        [case] = mine.get("cases", [{}])
        problems = []
        if (case.get("final_state"), case.get("closed_at") is not None) != ("refunded", True):
            problems.append(f"case row not closed: {case}")
        if _plain(case.get("refund_total")) != expected_refund(data):
            problems.append(f"refund_total {case.get('refund_total')}, expected {expected_refund(data)}")
        for table in tables:
            key = tuple(c.name for c in table.primary_key.columns)
            rows = mine.get(table.name, [])
            expected = list(facts.clocks.values()) if table.name == "sla_clocks" else facts.rows.get(table.name, [])
            found = _keyed(rows, key)
            if len(found) != len(rows) or found != _keyed(expected, key):
                problems.append(f"{table.name}: {len(rows)} rows, expected {len(expected)}")
        if problems:
            wrong[case_id] = problems
    assert not wrong, (
        f"{len(wrong)} cases whose ledger differs from their timeline, e.g. {dict(list(wrong.items())[:3])}"
    )


# --- the test -------------------------------------------------------------------------------------


async def _bounded(limit: int, calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


@dataclass
class ActionRun:
    """One `run_action` activity as the workflow history tells it."""

    key: str
    attempt: int = 0  # of the attempt that ended it (ActivityTaskStarted.attempt)
    completed: bool = False


async def _action_runs(client: Client, case_id: str) -> list[ActionRun]:
    history = await client.get_workflow_handle(workflow_id_for(case_id)).fetch_history()
    runs: dict[int, ActionRun] = {}
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = e.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "run_action":
                runs[e.event_id] = ActionRun(key=(await client.data_converter.decode(attrs.input.payloads))[0]["key"])
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = e.activity_task_started_event_attributes
            if started.scheduled_event_id in runs:
                runs[started.scheduled_event_id].attempt = started.attempt
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = e.activity_task_completed_event_attributes
            if completed.scheduled_event_id in runs:
                runs[completed.scheduled_event_id].completed = True
    return list(runs.values())


async def test_cases_survive_killed_workers_and_servers_and_refund_once(cluster: Cluster) -> None:
    began = time.monotonic()
    rng = random.Random(SEED)
    client = await Client.connect(cluster.address, data_converter=DATA_CONVERTER)
    now = dt.datetime.now(dt.UTC)
    sent = {case_id_of(n): chaos_case_data(n, now) for n in range(CASES)}
    done = asyncio.Event()
    kills: list[str] = []
    outages: list[Outage] = []
    progress = Progress()
    chaos = asyncio.create_task(_chaos(cluster, done, rng, progress, kills, outages))
    gate = asyncio.Semaphore(50)
    driving = asyncio.ensure_future(
        asyncio.gather(*(_drive(client, n, sent[case_id_of(n)], gate, progress) for n in range(CASES)))
    )
    try:
        # A failure in the chaos loop (a server that will not restart) ends the test at once.
        both: set[asyncio.Future[Any]] = {driving, chaos}
        finished, _ = await asyncio.wait(both, timeout=420, return_when=asyncio.FIRST_EXCEPTION)
        if chaos in finished:
            chaos.result()  # raises what went wrong with the processes
        assert driving in finished, "the cases were not driven to the end within 7 minutes"
        driving.result()
    finally:
        done.set()
        driving.cancel()
        await asyncio.gather(chaos, driving, return_exceptions=True)
    if cluster.worker is None:
        cluster.start_worker()
    kinds = [o.kind for o in outages]
    assert kinds == ["server-kill", "server-stop", "both-kill"], f"the plan's outages did not all happen: {kinds}"
    assert all(o.in_flight > 0 for o in outages), f"an outage found no case in flight: {outages}"
    cluster.note_worker_exit()
    assert not cluster.worker_exits, f"workers exited by themselves (codes {cluster.worker_exits}): see worker-*.log"
    assert len(kills) >= 3, kills
    assert set(cluster.server_group.values()) == {"temporal"}, cluster.server_group

    driven = time.monotonic() - began

    # Every case finishes: refunded, closed, its workflow completed.
    unfinished: dict[str, str] = {}
    for case_id in sent:
        handle = client.get_workflow_handle(workflow_id_for(case_id), result_type=CaseStatus)
        result = await asyncio.wait_for(handle.result(), timeout=120)
        if not (result.closed and result.state == "refunded"):
            unfinished[case_id] = result.state
    assert not unfinished, unfinished

    # Every event was applied exactly once and in order (the audit trail); what was acknowledged
    # before an outage is there; the case entered `refunding` (which pays) once.
    timelines: list[Timeline] = await _bounded(
        20,
        [
            partial(client.get_workflow_handle(workflow_id_for(c)).query, QUERY_TIMELINE, result_type=Timeline)
            for c in sent
        ],
    )
    for case_id, timeline in zip(sent, timelines, strict=True):
        events = [(e.name, e.detail.get("key")) for e in timeline.entries if e.kind == "event"]
        sent_events = [(name, key) for name, key in events if str(key).startswith(f"{case_id}/")]
        assert sent_events == [(name, f"{case_id}/{i}") for i, (name, _, _) in enumerate(RETURN_EVENTS)], events
        # The payment's report (the refund activity's result, not sent by the backend) comes once too.
        assert [name for name, key in events if (name, key) not in sent_events] == ["refund_completed"], events
        entered = [e.detail.get("to") for e in timeline.entries if e.kind == "transition"]
        assert entered.count("refunding") == 1 and entered[-1] == "refunded", (case_id, entered)
        assert set(progress.acknowledged.get(case_id, [])) <= set(entered), (case_id, progress.acknowledged[case_id])

    # The effects: exactly the policy's, each the case's own, the refund of the right amount.
    check_ledger(cluster.database_url, sent, dict(zip(sent, timelines, strict=True)))

    rows = Outbox(cluster.database_url).list(limit=100 * CASES)
    by_case: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        assert row["case_id"] in sent, f"an effect of an unknown case: {row}"
        assert row["key"].startswith(f"{row['case_id']}/") and row["key"].endswith(f"/{row['type']}"), row
        by_case.setdefault(row["case_id"], []).append(row)
    wrong: dict[str, Any] = {}
    for case_id, data in sent.items():
        mine = by_case.get(case_id, [])
        refunds = [Decimal(str(r["params"]["amount"])) for r in mine if r["type"] == "refund"]
        notes = sorted((r["params"]["template"], r["params"]["to"]) for r in mine if r["type"] == "notify")
        others = sorted(r["type"] for r in mine if r["type"] not in ("refund", "notify"))
        expected = expected_refund(data)
        if refunds != [expected] or notes != sorted(NOTIFICATIONS) or others:
            wrong[case_id] = {"refunds": refunds, "expected": expected, "notifications": notes, "other": others}
    assert not wrong, f"{len(wrong)} cases with wrong effects, e.g. {dict(list(wrong.items())[:3])}"

    # Delivery: every row delivered and stamped, the receiver's copies identical, signed and the
    # row's own; never more POSTs than the outbox counted attempts, nor attempts than Temporal ran.
    deliveries = cluster.receiver.by_key()
    assert set(deliveries) == {r["key"] for r in rows}, "the receiver got effects the outbox does not hold"
    runs = dict(zip(sent, await _bounded(20, [partial(_action_runs, client, c) for c in sent]), strict=True))
    attempts_by_key = {run.key: run.attempt for case_runs in runs.values() for run in case_runs}
    for case_id, case_runs in runs.items():
        scheduled = Counter(run.key for run in case_runs)
        assert scheduled == Counter(r["key"] for r in by_case[case_id]), (case_id, scheduled)
        assert all(run.completed for run in case_runs), f"{case_id}: an effect failed for good: {case_runs}"
    redelivered = cut_short = 0
    for row in rows:
        key = row["key"]
        posts = deliveries[key]
        copies = [d for d in posts if d.complete]
        cut_short += len(posts) - len(copies)
        ok = [d for d in copies if d.status == 200]
        assert row["delivered_at"] and ok, f"{key} was not delivered: {row}, {copies}"
        assert all(d.signed for d in copies), f"{key}: a POST with a wrong signature"
        assert len({d.body for d in copies}) == 1, f"{key}: the receiver got different bodies"
        body = json.loads(copies[0].body)
        assert (body["key"], body["case_id"], body["type"], body["params"]) == (
            key,
            row["case_id"],
            row["type"],
            row["params"],
        ), (body, row)
        assert 1 <= len(posts) <= row["attempts"] <= attempts_by_key[key], (
            f"{key}: {len(posts)} POSTs, {row['attempts']} outbox attempts, Temporal attempt {attempts_by_key[key]}"
        )
        if fails_first(key):
            assert copies[0].status == 503 and len(ok) >= 1 and row["attempts"] >= 2, (key, copies, row)
        redelivered += len(ok) - 1  # a worker killed between the POST and the stamp: the receiver dedupes

    retried = sum(1 for r in rows if r["attempts"] > 1)
    print(
        f"chaos: {CASES} cases, {kills.count('worker')} worker kills, outages "
        f"{[(o.kind, o.in_flight) for o in outages]} (kind, cases in flight), "
        f"{cluster.hot_journals} SQLite journals left by a server SIGKILL, {len(rows)} effects, "
        f"{retried} with more than one attempt, {redelivered} redelivered, {cut_short} POSTs cut short by a kill, seed {SEED}, "
        f"{driven:.0f} s of chaos + {time.monotonic() - began - driven:.0f} s of checks"
    )
