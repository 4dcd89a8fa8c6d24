"""Figures for scripts/cluster (issue 22).

  drill DIR            the three faults' figures from the drill's load tests and event times
  exact FRONT N        two checks through a running cluster of N instances: one client's limit is
                       counted once whichever instance it reaches, and a write on one instance is in
                       the very next read on another
  scale DIR            the scaling table from `exact` and the load tests at 1, 2 and 3 instances
"""
import json
import math
import os
import sys
import urllib.error
import urllib.request
import uuid

READS = {"home", "profile", "entity", "nearby", "anon"}
WRITES = {"post", "like", "follow"}


def events(directory):
    found = {}
    for line in open(os.path.join(directory, "events")):
        parts = line.split()
        found[parts[0]] = float(parts[1])
    return found


def acknowledged(path):
    rows = []
    for line in open(path):
        parts = line.split()
        if len(parts) >= 3:
            rows.append((parts[0], float(parts[1]), float(parts[2])))
    return rows


def answered_share(summary, scenarios, start, end):
    """Share of requests of `scenarios` started in [start, end] that got an answer below 500."""
    total = answered = 0
    for second, by_scenario in summary.get("per_second", {}).items():
        if not (math.floor(start) <= int(second) <= math.floor(end)):
            continue
        for scenario, statuses in by_scenario.items():
            if scenario not in scenarios:
                continue
            for status, count in statuses.items():
                total += count
                if 200 <= int(status) < 500:
                    answered += count
    return answered, total


def statuses_text(summary):
    names = {"0": "no answer", "-1": "not connected"}
    return " ".join(f"{names.get(k, k)}={v}" for k, v in sorted(summary["statuses"].items(), key=lambda kv: int(kv[0])))


def drill(directory):
    moments = events(directory)
    phases = [
        ("primary PostgreSQL SIGKILL (Patroni failover)", "failover", "kill", "promoted"),
        ("one FeedFusion instance SIGKILL, restarted after 5 s", "instance", "instance-kill", "instance-back"),
        ("Redis SIGKILL, restarted after 10 s", "redis", "redis-kill", "redis-back"),
    ]
    failed = False
    print(f"\nfailover drill ({os.cpu_count()} cores; loopback; scripts/cluster drill)")
    for title, name, fault, back in phases:
        summary = json.load(open(os.path.join(directory, f"{name}.json")))
        acks = acknowledged(os.path.join(directory, f"{name}.ack"))
        missing = int(open(os.path.join(directory, f"{name}.missing")).read().strip() or "0")
        t0 = moments[fault]
        before = [answered for _, sent, answered in acks if answered < t0]
        after = [answered for _, sent, answered in acks if sent > t0]
        first_after = min(after) - t0 if after else None
        gap = (min(after) - max(before)) if after and before else None
        # The fault's window: from the kill until writes are back (failover), or until the killed
        # part is back (instance, Redis).
        end = t0 + first_after if name == "failover" and first_after is not None else moments.get(back, t0 + 10)
        reads_ok, reads = answered_share(summary, READS, t0, end)
        writes_ok, writes = answered_share(summary, WRITES, t0, end)
        share = reads_ok / reads if reads else 1.0
        print(f"\n{title}")
        rows = [
            ("requests (whole run)", summary["http_reqs"]),
            ("answers by status", statuses_text(summary)),
            ("writes acknowledged (posts)", len(acks)),
            ("writes lost (acknowledged, not in the database)", missing),
            ("first acknowledged write sent after the fault, s", f"{first_after:.2f}" if first_after is not None else "none"),
            ("seconds without acknowledged writes", f"{gap:.2f}" if gap is not None else "-"),
            (f"reads answered in the fault's {end - t0:.1f} s", f"{reads_ok}/{reads} ({100 * share:.1f} %)"),
            ("writes answered in it (others got 503 + Retry-After)", f"{writes_ok}/{writes}"),
            ("load test thresholds", "passed" if summary["passed"] else "failed: " + ", ".join(
                t["threshold"] for t in summary["thresholds"] if not t["passed"])),
        ]
        if name == "failover":
            if "promoted" in moments:
                rows.insert(4, ("replica promoted (haproxy sees a new primary), s after the kill", f"{moments['promoted'] - t0:.2f}"))
            rows.insert(5, ("old primary back as a replica, s after the kill",
                            f"{moments['rejoined'] - t0:.2f}" if "rejoined" in moments else "not within 120 s"))
        for label, value in rows:
            print(f"  {label:<66} {value}")
        failed |= missing > 0
        if name == "failover":
            failed |= first_after is None or first_after > 10 or share < 0.99
        # Requests in flight on the instance that was killed cannot be answered (haproxy cannot
        # know whether a POST ran, so it does not send it again); anywhere else, none may be lost.
        unanswered = summary["statuses"].get("0", 0)
        if name != "instance":
            failed |= unanswered > 0
        failed |= any(int(k) == 500 for k in summary["statuses"])
    routing = {"replica": 0, "primary": 0}
    for line in open(os.path.join(directory, "routing")) if os.path.exists(os.path.join(directory, "routing")) else []:
        target = line.split('target="')[1].split('"')[0]
        routing[target] = routing.get(target, 0) + int(float(line.split()[-1]))
    total = sum(routing.values())
    if total:
        print(f"\nread-only requests that reached the database, by where they ran: replica {routing['replica']} "
              f"({100 * routing['replica'] / total:.0f} %), primary {routing['primary']}")
    print("\nresult:", "FAIL" if failed else "PASS", "(0 writes lost; writes back within 10 s of the kill; >= 99 % of reads answered during the failover; no 500; no request unanswered but those in flight on the killed instance)")
    sys.exit(1 if failed else 0)


def request(url, method="GET", body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def exact(front, instances):
    base = f"http://127.0.0.1:{front}"
    anon = json.loads(request(f"{base}/app/config")[1])["anon_key"]
    key = {"apikey": anon}
    # 1. One client (one address) asks 101 times in a minute, round robin over every instance.
    client = {"X-Forwarded-For": f"10.250.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}", **key}
    statuses = [request(f"{base}/rest/v1/rpc/feed_fusion_nearby", "POST", {"p_lat": 52.52, "p_lng": 13.405, "p_radius_m": 1000}, client)[0]
                for _ in range(101)]
    refused_at = [i + 1 for i, s in enumerate(statuses) if s == 429]
    limit_exact = refused_at == [101]
    # 2. A post written through one instance is in the author's very next home read through another.
    users = json.load(open(os.environ["CLUSTER_USERS_FILE"]))
    ports = [int(front) + 40 + n for n in range(1, instances + 1)]
    stale = tried = 0
    for turn in range(30):
        user = users["users"][turn % len(users["users"])]
        writer, reader = ports[turn % len(ports)], ports[(turn + 1) % len(ports)]
        address = {"X-Forwarded-For": f"10.251.{turn}.1", **key}
        status, body = request(f"http://127.0.0.1:{writer}/auth/v1/token?grant_type=password", "POST",
                               {"email": user["email"], "password": users["password"]}, address)
        if status != 200:
            continue
        token = {"Authorization": "Bearer " + json.loads(body)["access_token"], **address}
        status, body = request(f"http://127.0.0.1:{writer}/rest/v1/rpc/create_post", "POST", {"p_body": f"across instances {turn}"}, token)
        if status != 200:
            continue
        post = json.loads(body)["id"]
        status, body = request(f"http://127.0.0.1:{reader}/rest/v1/rpc/feed_fusion_home", "POST", {"p_limit": 20}, token)
        tried += 1
        if status != 200 or post not in [row.get("id") for row in json.loads(body)]:
            stale += 1
    print(json.dumps({"instances": instances, "limit_refused_at": refused_at, "limit_exact": limit_exact,
                      "read_after_write_tries": tried, "read_after_write_stale": stale}))


def scale(directory):
    print(f"\nscaling through haproxy ({os.cpu_count()} cores; the same offered load, open model; scripts/cluster scale)")
    head = ["instances", "req/s", "p50 ms", "p95 ms", "p99 ms", "p95 ÷ 1 instance", "errors", "429", "feeds without the database",
            "101st request refused (only it)", "write on one, read on another: stale"]
    print(" | ".join(head))
    failed = False
    reference = None
    for n in (1, 2, 3):
        path = os.path.join(directory, f"{n}.json")
        if not os.path.exists(path):
            continue
        summary = json.load(open(path))
        checks = json.loads(open(os.path.join(directory, f"{n}.exact")).read())
        latency = summary.get("http_req_duration") or {}
        no_db = summary.get("feed_no_database_rate")
        p95 = latency.get("p95", 0)
        reference = reference or p95
        row = [n, f"{summary['http_reqs_per_second']:.0f}", f"{latency.get('med', 0):.1f}", f"{p95:.1f}",
               f"{latency.get('p99', 0):.1f}", f"{p95 / reference:.2f}x" if reference else "-", summary["http_req_failed"], summary["statuses"].get("429", 0),
               f"{100 * no_db:.1f} %" if no_db is not None else "-",
               "yes" if checks["limit_exact"] else f"no: {checks['limit_refused_at'][:5]}",
               f"{checks['read_after_write_stale']}/{checks['read_after_write_tries']}"]
        print(" | ".join(str(x) for x in row))
        failed |= not checks["limit_exact"] or checks["read_after_write_stale"] > 0 or checks["read_after_write_tries"] == 0
    print("\nresult:", "FAIL" if failed else "PASS")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "drill":
        drill(sys.argv[2])
    elif command == "exact":
        exact(sys.argv[2], int(sys.argv[3]))
    elif command == "scale":
        scale(sys.argv[2])
