#!/usr/bin/env python3
"""The query load of `Scripts/bench index` (and of `Scripts/bench-orthanc qido`, so both servers
face the same client): keep-alive HTTP/1.1 GETs, every loop bounded, latencies from
time.perf_counter() around request and full response read.

  bench-index-load.py --base URL --patients FILE [--token TOKEN] [--doors api,qido]
                      [--queries 2000] [--heavy-queries 1000] [--clients 4] [--per-client 1000]
                      [--pid PID] [--seed 1]

FILE has one patient a line, "random ID" or "heavy ID" (as `trustmesh-bench index-build
--patients` writes it). The doors: `api` is GET /api/v1/query?nhs=ID (JSON), `qido` is
GET /dicom-web/studies?PatientID=ID (DICOM JSON). Phases, each door in turn on the same patients so
noise falls on both alike (which door asks first alternates from patient to patient: the first
query of a patient may read its pages from disk, the second finds them in the page cache):

  1. warm-up: 200 queries per door, not counted;
  2. one client over the random patients (--queries, each patient once, shuffled);
  3. one client over the heavy patients (--heavy-queries, round robin), if there are any;
  4. --clients processes at once, each --per-client queries over the random patients: throughput
     (all queries / wall time) and the p99 of every query.

With --pid, the server's VmRSS and VmHWM (/proc/PID/status) are read before and after each phase.
Prints one JSON object: per door and phase n, p50, p99, max (ms) and, for phase 4, qps; the mean
number of studies the heavy patients' answers list; the memory readings.
"""
import argparse, http.client, json, multiprocessing, random, sys, time, urllib.parse


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True)
    p.add_argument("--patients", required=True)
    p.add_argument("--token")
    p.add_argument("--doors", default="api,qido")
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--heavy-queries", type=int, default=1000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--per-client", type=int, default=1000)
    p.add_argument("--pid", type=int)
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


PATHS = {"api": "/api/v1/query?nhs={}", "qido": "/dicom-web/studies?PatientID={}"}


class Client:
    """One keep-alive connection, reopened (not counted) if the server closed it while idle."""

    def __init__(self, base, token):
        self.netloc = urllib.parse.urlsplit(base).netloc
        self.headers = {"Authorization": "Bearer " + token} if token else {}
        self.conn = None

    def get(self, path):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.netloc, timeout=60)
                self.conn.connect()
            try:
                start = time.perf_counter()
                self.conn.request("GET", path, headers=self.headers)
                response = self.conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - start
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status not in (200, 204):
                sys.exit(f"bench-index-load: GET {path.split('?')[0]} answered {response.status}: {body[:200]!r}")
            return elapsed, body


def summary(times):
    times = sorted(times)
    if not times:
        return None
    pick = lambda p: times[min(len(times) - 1, int(len(times) * p))] * 1000
    return {"n": len(times), "p50": pick(0.5), "p99": pick(0.99), "max": times[-1] * 1000}


def memory(pid):
    if not pid:
        return None
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])  # kB
    return values


def worker(args):
    base, token, door, patients, seed = args
    rng = random.Random(seed)
    client = Client(base, token)
    client.get(PATHS[door].format(patients[0]))  # the connection, not counted
    times = []
    for _ in range(len(patients)):
        elapsed, _ = client.get(PATHS[door].format(rng.choice(patients)))
        times.append(elapsed)
    return times


def main():
    a = parse()
    doors = [d for d in a.doors.split(",") if d]
    randoms, heavies = [], []
    with open(a.patients) as f:
        for line in f:
            kind, _, patient = line.strip().partition(" ")
            (heavies if kind == "heavy" else randoms).append(patient)
    rng = random.Random(a.seed)
    out = {"doors": {d: {} for d in doors}, "memory": []}
    out["memory"].append(("start", memory(a.pid)))
    clients = {d: Client(a.base, a.token) for d in doors}
    for _ in range(200):
        patient = rng.choice(randoms)
        for d in doors:
            clients[d].get(PATHS[d].format(patient))
    order = randoms[:]
    rng.shuffle(order)
    order = order[: a.queries]
    times = {d: [] for d in doors}
    for i, patient in enumerate(order):
        for d in (doors if i % 2 == 0 else doors[::-1]):
            times[d].append(clients[d].get(PATHS[d].format(patient))[0])
    for d in doors:
        out["doors"][d]["random"] = summary(times[d])
    out["memory"].append(("after one client, random patients", memory(a.pid)))
    if heavies:
        times = {d: [] for d in doors}
        listed = []
        for i in range(a.heavy_queries):
            patient = heavies[i % len(heavies)]
            for d in (doors if i % 2 == 0 else doors[::-1]):
                elapsed, body = clients[d].get(PATHS[d].format(patient))
                times[d].append(elapsed)
                if d == "api" and i < len(heavies):
                    listed.append(len(json.loads(body).get("studies", [])))
        for d in doors:
            out["doors"][d]["heavy"] = summary(times[d])
        if listed:
            out["heavyStudiesListed"] = sum(listed) / len(listed)
        out["memory"].append(("after one client, heavy patients", memory(a.pid)))
    for d in doors:
        jobs = [(a.base, a.token, d, randoms[: max(1, a.per_client)] if len(randoms) >= a.per_client else randoms,
                 a.seed * 100 + i) for i in range(a.clients)]
        with multiprocessing.Pool(a.clients) as pool:
            start = time.perf_counter()
            results = pool.map(worker, jobs)
            wall = time.perf_counter() - start
        every = [t for r in results for t in r]
        s = summary(every)
        s["qps"] = len(every) / wall
        s["clients"] = a.clients
        out["doors"][d]["concurrent"] = s
        out["memory"].append((f"after {a.clients} clients, {d}", memory(a.pid)))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
