"""The live test of a compose stack made by `lodestar compose` (3 zeros, a group of 3 alphas,
ACL and encryption on, SeaweedFS beside it), driven from the host as its users drive it: pydgraph
through the published gRPC ports, the gateway's /admin with gql, boto3 against SeaweedFS, and
the docker CLI for failures (docker kill, docker network disconnect/connect, docker-compose
down/up).

Usage: compose_stack.py COMPOSE_DIR PROJECT
COMPOSE_DIR holds docker-compose.yml (and minio.env); PROJECT is the compose project name the
stack runs under. The stack must be up and healthy. Prints what it measured as `measured: ...`
lines and one JSON object on the last line; exits non-zero with an assertion on wrong behaviour.
"""

import json
import os
import subprocess
import sys
import threading
import time

import boto3
import grpc
import pydgraph
import requests
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import acl_workflow  # noqa: E402  (the seeds' ACL workflow, as the other stages run it)

GROOT_PASSWORD = "newpassword"  # what acl_workflow leaves groot's password as
BUCKET = "lodestar-backups"
MEASURED: dict = {}


def say(text: str) -> None:
    print(text, flush=True)


def measured(key: str, value) -> None:
    MEASURED[key] = value
    say(f"measured: {key} = {value}")


class Stack:
    """The running stack: its containers, published ports and compose command."""

    def __init__(self, directory: str, project: str):
        self.dir = directory
        self.project = project
        self.refresh()

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker-compose", "-p", self.project, "-f", os.path.join(self.dir, "docker-compose.yml"), *args],
            cwd=self.dir, check=check, capture_output=True, text=True,
        )

    def refresh(self) -> None:
        """Reads each service's container and the port offset its command line gives it."""
        self.containers: dict[str, str] = {}
        self.offsets: dict[str, int] = {}
        for line in self.compose("ps", "-q").stdout.split():
            info = json.loads(docker("inspect", line))[0]
            service = info["Config"]["Labels"]["com.docker.compose.service"]
            self.containers[service] = info["Name"].lstrip("/")
            for arg in info["Args"] + (info["Config"]["Cmd"] or []):
                if arg.startswith("--port_offset="):
                    self.offsets[service] = int(arg.split("=", 1)[1])

    def alpha_grpc(self, name: str) -> str:
        return f"localhost:{9080 + self.offsets[name]}"

    def zero_http(self, name: str) -> str:
        return f"http://localhost:{6080 + self.offsets[name]}"

    @property
    def admin_url(self) -> str:
        return f"http://localhost:{8080 + self.offsets['gateway']}/admin"

    @property
    def alphas(self) -> list[str]:
        return sorted(s for s in self.containers if s.startswith("alpha"))

    @property
    def zeros(self) -> list[str]:
        return sorted(s for s in self.containers if s.startswith("zero"))

    def health(self) -> dict[str, str]:
        out = {}
        for service, name in self.containers.items():
            info = json.loads(docker("inspect", name))[0]["State"]
            out[service] = info.get("Health", {}).get("Status", info["Status"]) if info["Running"] else info["Status"]
        return out

    def wait_healthy(self, timeout: float = 180) -> float:
        start = time.monotonic()
        while True:
            states = self.health()
            waiting = {s: h for s, h in states.items() if s != "init" and h != "healthy"}
            if not waiting:
                return time.monotonic() - start
            assert time.monotonic() - start < timeout, f"not healthy after {timeout}s: {waiting}"
            time.sleep(0.5)

    def state(self) -> dict:
        """zero's /state, from the first zero that answers."""
        for zero in self.zeros:
            try:
                r = requests.get(self.zero_http(zero) + "/state", timeout=3)
                if r.ok:
                    return r.json()
            except requests.RequestException:
                pass
        raise AssertionError("no zero answers /state")

    def zero_leader(self) -> str:
        for member in self.state()["zeros"].values():
            if member.get("leader"):
                return member["addr"].split(":")[0]
        raise AssertionError("no zero leader in /state")

    def group_leader(self) -> str:
        for member in self.state()["groups"]["1"]["members"].values():
            if member.get("leader"):
                return member["addr"].split(":")[0]
        raise AssertionError("group 1 has no leader in /state")


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def client(stack: Stack, alphas: list[str] | None = None, password: str = GROOT_PASSWORD) -> pydgraph.DgraphClient:
    stubs = [pydgraph.DgraphClientStub(stack.alpha_grpc(a)) for a in (alphas or stack.alphas)]
    c = pydgraph.DgraphClient(*stubs)
    deadline = time.monotonic() + 60
    while True:
        try:
            c.login("groot", password)
            return c
        except Exception as e:  # the alpha may still be electing or catching up
            if time.monotonic() > deadline:
                raise
            say(f"login waits: {e}")
            time.sleep(1)


def query(c: pydgraph.DgraphClient, q: str, best_effort: bool = False) -> dict:
    txn = c.txn(read_only=True, best_effort=best_effort)
    return json.loads(txn.query(q, timeout=30).json)


def loads(c: pydgraph.DgraphClient, best_effort: bool = False) -> list[str]:
    res = query(c, "{ q(func: has(load)) { load } }", best_effort)
    return sorted(n["load"] for n in res["q"])


class Load:
    """Writers committing one node each per transaction through all three alphas; remembers
    every write acknowledged (commit returned) and when."""

    def __init__(self, stack: Stack, writers: int = 4):
        self.stack = stack
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[tuple[float, float, str]] = []  # (started, acknowledged, value)
        self.failures: dict[str, int] = {}
        self.samples: dict[str, str] = {}  # one message per kind of failure
        self.threads = [threading.Thread(target=self.run, args=(w,), daemon=True) for w in range(writers)]

    def start(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def run(self, writer: int) -> None:
        c = client(self.stack)
        i = 0
        while not self.stop.is_set():
            value = f"w{writer}-{i}"
            i += 1
            started = time.monotonic()
            try:
                txn = c.txn()
                txn.mutate(set_nquads=f'_:n <load> "{value}" .', commit_now=True, timeout=10)
                with self.lock:
                    self.acked.append((started, time.monotonic(), value))
            except Exception as e:
                kind = e.code().name if isinstance(e, grpc.RpcError) else type(e).__name__
                with self.lock:
                    self.failures[kind] = self.failures.get(kind, 0) + 1
                    self.samples.setdefault(kind, (e.details() if isinstance(e, grpc.RpcError) else str(e))[:200])
                if isinstance(e, grpc.RpcError) and "Token is expired" in (e.details() or ""):
                    c = client(self.stack)
                time.sleep(0.05)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def wait_for(self, more: int, timeout: float = 120) -> None:
        want = self.count() + more
        start = time.monotonic()
        while self.count() < want:
            assert time.monotonic() - start < timeout, f"writes stalled: {self.count()} of {want} after {timeout}s ({self.failures})"
            time.sleep(0.1)

    def resumed_after(self, at: float, timeout: float = 120) -> tuple[float, float]:
        """Waits for a write started after `at` to be acknowledged; returns (seconds from `at`
        to that acknowledgement, the longest gap between acknowledgements since `at`)."""
        start = time.monotonic()
        while True:
            with self.lock:
                after = [a for (s, a, _) in self.acked if s > at]
                times = sorted(a for (_, a, _) in self.acked if a > at - 5)
            if after:
                gaps = [b - a for a, b in zip(times, times[1:])] or [0.0]
                return min(after) - at, max(gaps)
            assert time.monotonic() - start < timeout, f"no write acknowledged {timeout}s after the failure ({self.failures})"
            time.sleep(0.05)

    def finish(self) -> set[str]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        with self.lock:
            return {v for (_, _, v) in self.acked}


def backup_and_restore(stack: Stack) -> None:
    """A full and an incremental backup to the SeaweedFS container, checked with boto3, then
    an online restore over changed data brings back exactly what the backups hold."""
    env = dict(
        line.strip().split("=", 1)
        for line in open(os.path.join(stack.dir, "minio.env"))
        if "=" in line and not line.startswith("#")
    )
    s3_port = 9001  # lodestar compose's --minio_port default
    s3 = boto3.client(
        "s3", endpoint_url=f"http://localhost:{s3_port}",
        aws_access_key_id=env["MINIO_ACCESS_KEY"], aws_secret_access_key=env["MINIO_SECRET_KEY"],
        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    s3.create_bucket(Bucket=BUCKET)
    groot = acl_workflow.admin(stack.admin_url, acl_workflow.login(stack.admin_url, "groot", GROOT_PASSWORD)["accessJWT"])
    destination = f"minio://seaweedfs:9001/{BUCKET}/cluster?secure=false"

    def backup(force_full: bool) -> None:
        out = acl_workflow.run(groot, """mutation ($d: String!, $f: Boolean) {
          backup(input: {destination: $d, forceFull: $f}) { response { code message } taskId }
        }""", {"d": destination, "f": force_full})
        task = out["backup"]["taskId"]
        assert out["backup"]["response"]["code"] == "Success", out
        for _ in range(600):
            t = acl_workflow.run(groot, "query ($id: String!) { task(input: {id: $id}) { status } }", {"id": task})
            status = t["task"]["status"]
            if status == "Success":
                return
            assert status in ("Queued", "Running"), t
            time.sleep(0.2)
        raise AssertionError(f"backup {task} did not finish")

    c = client(stack)
    c.alter(pydgraph.Operation(schema="kept: string @index(exact) ."))
    c.txn().mutate(set_nquads="\n".join(f'_:k{i} <kept> "full-{i}" .' for i in range(50)), commit_now=True)
    backup(True)
    c.txn().mutate(set_nquads="\n".join(f'_:k{i} <kept> "incr-{i}" .' for i in range(25)), commit_now=True)
    backup(False)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="cluster/")
    names = [o["Key"] for o in listed.get("Contents", [])]
    assert "cluster/manifest.json" in names, names
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="cluster/manifest.json")["Body"].read())
    entries = manifest["Manifests"]
    assert [m["type"] for m in entries] == ["full", "incremental"], manifest
    assert all(m["encrypted"] for m in entries), manifest
    say(f"backups in SeaweedFS: {len(names)} objects, manifest {[m['type'] for m in entries]}")

    want = sorted(n["kept"] for n in query(c, "{ q(func: has(kept)) { kept } }")["q"])
    assert len(want) == 75, want
    # Changes after the backups, which the restore must undo.
    uids = [n["uid"] for n in query(c, '{ q(func: has(kept), first: 30) { uid } }')["q"]]
    c.txn().mutate(del_nquads="\n".join(f"<{u}> <kept> * ." for u in uids), commit_now=True)
    c.txn().mutate(set_nquads='_:z <kept> "after-backup" .', commit_now=True)

    out = acl_workflow.run(groot, """mutation ($l: String!) {
      restore(input: {location: $l}) { code message restoreId }
    }""", {"l": destination})
    assert out["restore"]["code"] == "Success", out
    rid = out["restore"]["restoreId"]
    for _ in range(600):
        s = acl_workflow.run(groot, "query ($id: Int!) { restoreStatus(restoreId: $id) { status errors } }", {"id": rid})
        status = s["restoreStatus"]["status"]
        if status == "OK":
            break
        assert status != "ERR", s
        time.sleep(0.2)
    else:
        raise AssertionError(f"restore {rid} did not finish")
    c = client(stack)
    deadline = time.monotonic() + 60
    while True:  # every alpha of the group serves the restored data
        got = [sorted(n["kept"] for n in query(client(stack, [a]), "{ q(func: has(kept)) { kept } }")["q"]) for a in stack.alphas]
        if all(g == want for g in got):
            break
        assert time.monotonic() < deadline, f"restored data differs: {[len(g) for g in got]} of {len(want)}"
        time.sleep(1)
    say("restore from SeaweedFS: every alpha answers the backed-up data")


def new_leader(find, old: str, at: float) -> float:
    """Seconds from `at` until `find` (zero's /state) names a leader other than `old`."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if find() != old:
                return round(time.monotonic() - at, 2)
        except (AssertionError, requests.RequestException):
            pass
        assert time.monotonic() < deadline, f"{old} is still the leader 60 s later"
        time.sleep(0.1)


def kill_leader(stack: Stack, load: "Load", what: str, find) -> None:
    """docker kill of the leader `find` names (from zero's /state) under the load: another
    leads and writes resume; then docker start, and the killed one is healthy again."""
    leader = find()
    say(f"docker kill {leader} ({what})")
    docker("kill", stack.containers[leader])
    at = time.monotonic()  # after: writes started while the command ran may still succeed
    measured(f"{what}_kill_new_leader_s", new_leader(find, leader, at))
    resumed, gap = load.resumed_after(at)
    measured(f"{what}_kill_writes_resumed_s", round(resumed, 2))
    measured(f"{what}_kill_longest_gap_s", round(gap, 2))
    load.wait_for(100)
    restarted = json.loads(docker("inspect", stack.containers[leader]))[0]["State"]["Running"]
    say(f"{leader} restarted by its restart policy: {restarted}; docker start {leader}")
    docker("start", stack.containers[leader])
    measured(f"{what}_started_again_to_healthy_s", round(stack.wait_healthy(), 2))
    load.wait_for(100)


def failures(stack: Stack) -> set[str]:
    """Under a write load: kills the zero leader, then the group leader, crashes a follower,
    cuts the group leader off the network and reconnects it; returns every acknowledged
    write."""
    c = client(stack)
    c.alter(pydgraph.Operation(schema="load: string @index(exact) ."))
    load = Load(stack).start()
    load.wait_for(100)

    kill_leader(stack, load, "zero_leader", stack.zero_leader)
    kill_leader(stack, load, "alpha_leader", stack.group_leader)

    # A crash (the process killed from the host, as the OOM killer would): the restart policy
    # brings the alpha back by itself and it catches up.
    victim = next(a for a in stack.alphas if a != stack.group_leader())
    pid = json.loads(docker("inspect", stack.containers[victim]))[0]["State"]["Pid"]
    say(f"kill -9 {pid} ({victim}'s process, a follower)")
    os.kill(pid, 9)
    time.sleep(1)
    measured("alpha_crash_restarted_to_healthy_s", round(stack.wait_healthy() + 1, 2))
    restarts = json.loads(docker("inspect", stack.containers[victim]))[0]["RestartCount"]
    assert restarts >= 1, f"{victim} was not restarted by its restart policy"
    load.wait_for(100)

    # The group's leader cut off from the network (then reconnected with its aliases), writes
    # going on through the other two.
    victim = stack.group_leader()
    name = stack.containers[victim]
    networks = json.loads(docker("inspect", name))[0]["NetworkSettings"]["Networks"]
    (network, settings), = networks.items()
    aliases = settings.get("Aliases") or []
    say(f"docker network disconnect {network} {victim} (the group leader)")
    docker("network", "disconnect", network, name)
    at = time.monotonic()
    measured("partition_of_leader_new_leader_s", new_leader(stack.group_leader, victim, at))
    resumed, gap = load.resumed_after(at)
    measured("partition_of_leader_writes_resumed_s", round(resumed, 2))
    measured("partition_of_leader_longest_gap_s", round(gap, 2))
    load.wait_for(200)
    args = ["network", "connect"] + [f"--alias={a}" for a in aliases] + [network, name]
    docker(*args)
    reconnected = time.monotonic()
    say(f"docker network connect {network} {victim}; writes go on")
    load.wait_for(100)
    acked = load.finish()
    say(f"load: {len(acked)} writes acknowledged, failures by code {load.failures}")
    for kind, text in load.samples.items():
        say(f"  {kind}: {text}")
    assert len(acked) >= 800, len(acked)

    # The reconnected alpha catches up; every alpha holds every acknowledged write.
    deadline = time.monotonic() + 120
    while True:
        try:
            got = set(loads(client(stack, [victim]), best_effort=True))
            if acked <= got:
                break
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, f"{victim} did not converge: {len(acked - got)} acknowledged writes missing"
        time.sleep(0.5)
    measured("partition_reconnect_converged_s", round(time.monotonic() - reconnected, 2))
    measured("writes_acknowledged_under_failures", len(acked))
    return acked


def same_on_every_alpha(stack: Stack, acked: set[str]) -> list[str]:
    """Every alpha, read on its own (best effort, its own copy), answers the same writes, and
    every acknowledged one is there."""
    deadline = time.monotonic() + 60
    while True:
        answers = {a: loads(client(stack, [a]), best_effort=True) for a in stack.alphas}
        first = answers[stack.alphas[0]]
        if all(v == first for v in answers.values()):
            break
        assert time.monotonic() < deadline, {a: len(v) for a, v in answers.items()}
        time.sleep(0.5)
    missing = acked - set(first)
    assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:10]}"
    assert len(first) == len(set(first)), "a write is there twice"
    linear = loads(client(stack))
    assert linear == first, "a linearizable read differs from the replicas"
    return first


def main() -> None:
    stack = Stack(sys.argv[1], sys.argv[2])
    assert len(stack.zeros) == 3 and len(stack.alphas) == 3, stack.containers
    assert "seaweedfs" in stack.containers, stack.containers
    state = stack.state()
    members = state["groups"]["1"]["members"]
    assert len(members) == 3 and len(state["groups"]) == 1, state["groups"]

    # The seeds' ACL workflow through the gateway's /admin, then pydgraph as the new user.
    subprocess.run([sys.executable, os.path.join(HERE, "acl_workflow.py"), stack.admin_url, stack.alpha_grpc("alpha1")], check=True)
    # Without a token: no data, no admin.
    try:
        pydgraph.DgraphClient(pydgraph.DgraphClientStub(stack.alpha_grpc("alpha2"))).txn(read_only=True).query("{ q(func: has(name)) { name } }")
        raise AssertionError("a query without a token was answered")
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), e

    # pydgraph through every published port sees what another alpha wrote.
    c = client(stack, ["alpha1"])
    c.alter(pydgraph.Operation(schema="city: string @index(exact) ."))
    c.txn().mutate(set_nquads='_:a <city> "Lisbon" .\n_:b <city> "Porto" .', commit_now=True)
    for a in stack.alphas:
        got = query(client(stack, [a]), '{ q(func: has(city), orderasc: city) { city } }')
        assert got == {"q": [{"city": "Lisbon"}, {"city": "Porto"}]}, (a, got)
    say("pydgraph: writes through alpha1 are read through every alpha")

    backup_and_restore(stack)
    acked = failures(stack)
    before = same_on_every_alpha(stack, acked)
    say(f"after the failures: {len(before)} writes on every alpha, none acknowledged lost")

    # Down, then up: the volumes keep everything.
    start = time.monotonic()
    stack.compose("down")
    measured("down_s", round(time.monotonic() - start, 2))
    stack.compose("up", "-d")
    stack.refresh()
    up = time.monotonic()
    stack.wait_healthy()
    measured("up_after_down_to_healthy_s", round(time.monotonic() - up, 2))
    measured("down_then_up_total_s", round(time.monotonic() - start, 2))
    after = same_on_every_alpha(stack, acked)
    assert after == before, f"{len(before)} writes before down, {len(after)} after"
    got = query(client(stack), '{ q(func: has(city), orderasc: city) { city } }')
    assert got == {"q": [{"city": "Lisbon"}, {"city": "Porto"}]}, got
    login = acl_workflow.login(stack.admin_url, "groot", GROOT_PASSWORD)
    assert login["accessJWT"], login
    say("down/up: data, schema and users intact")
    print(json.dumps(MEASURED))


if __name__ == "__main__":
    main()
