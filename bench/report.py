"""What the benchmarks print alike: the peers' versions, running each
server in turn, and tables of operations/s with cloudlet / peer ratios."""

from __future__ import annotations

import argparse

from peers import peer_versions


def arguments(doc: str, extra=()) -> argparse.Namespace:
    """--seconds, --concurrency, --servers (and `extra`: (flag, kwargs)
    pairs), with `levels` parsed from --concurrency."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    parser.add_argument("--servers", default="cloudlet,ministack,moto")
    args = parser.parse_args()
    args.levels = [int(x) for x in args.concurrency.split(",")]
    return args


def run_all(names: list[str], run_server, args) -> dict:
    """Each server's results, in turn (one server up at a time)."""
    if any(n != "cloudlet" for n in names):
        print("peers:", ", ".join(f"{k} {v}" for k, v in peer_versions().items()))
    results = {}
    for name in names:
        print(f"{name}:", flush=True)
        results[name] = run_server(name, args)
    return results


def ratio_table(title: str, results: dict, names: list[str], op: str, levels: list[int]) -> float | None:
    """Print results[name][op][level]["rps"] per level with cloudlet / peer
    ratios; return the lowest ratio against ministack (None without it)."""
    worst = None
    print(f"\n{title} (operations/s; ratio = cloudlet / peer)")
    for c in levels:
        row = [f"c={c:<3d}"] + [f"{n} {results[n][op][c]['rps']:,.0f}" for n in names]
        if "cloudlet" in results:
            base = results["cloudlet"][op][c]["rps"]
            for n in names:
                peer = results[n][op][c]["rps"]
                if n != "cloudlet" and peer:
                    row.append(f"{base / peer:.1f}x {n}")
                    if n == "ministack":
                        worst = base / peer if worst is None else min(worst, base / peer)
        print("  " + "  |  ".join(row))
    return worst


def floor_lines(label: str, floor_rps: float, cloudlet_rps: float, peer_rps: float, per_op: int = 1) -> list[str]:
    """What one connection allows: at c=1 a client waits for each answer, so
    a round trip is the floor (bench/nullserver.py: the load generator, the
    kernel and an HTTP parser, no work) plus the server's work. `per_op`:
    round trips per operation measured (a receive+delete cycle is two)."""
    floor_us = per_op * 1e6 / floor_rps
    ours_us, peer_us = 1e6 / cloudlet_rps, 1e6 / peer_rps
    need_us = peer_us / 3
    lines = [f"{label} at c=1: floor {floor_rps / per_op:,.0f}/s ({floor_us:.0f} us each with no work behind); "
             f"ministack {peer_us:.0f} us each, cloudlet {ours_us:.0f} us",
             f"  work above the floor: ministack {peer_us - floor_us:.0f} us, cloudlet {ours_us - floor_us:.0f} us "
             f"(ministack / cloudlet: {(peer_us - floor_us) / max(ours_us - floor_us, 1e-9):.1f}x); "
             f"the most any server could reach here is {peer_us / floor_us:.1f}x ministack"]
    if need_us > floor_us:
        lines.append(f"  3x ministack needs {need_us:.0f} us each: {need_us - floor_us:.0f} us of work")
    else:
        lines.append(f"  3x ministack needs {need_us:.0f} us each: less than the floor, out of reach")
    return lines
