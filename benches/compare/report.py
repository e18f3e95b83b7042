"""Turns benches/compare/run.sh's raw results into a markdown table and an SVG bar chart.

Prints the table, writes the chart, and replaces the part of BENCHMARKS.md between
<!-- compare:start --> and <!-- compare:end --> (creating the file or the section if needed).
"""

import argparse
import html
import math
import os
import statistics

PROXIES = ["tower-mirror-proxy", "nginx", "envoy", "traefik"]
STATES = ["none", "fast", "fast-h2", "slow", "down", "hung"]
STATE_NAMES = {
    "none": "no mirror",
    "fast": "fast shadow",
    "fast-h2": "fast shadow over HTTP/2 (`--shadow-http2`)",
    "slow": "shadow answers in 200 ms",
    "down": "shadow down",
    "hung": "shadow hung",
}
SHORT_STATE = {
    "none": "no mirror",
    "fast": "fast",
    "fast-h2": "fast h2",
    "slow": "200 ms",
    "down": "down",
    "hung": "hung",
}
COLORS = {
    "tower-mirror-proxy": "#d9480f",
    "nginx": "#2b8a3e",
    "envoy": "#1c7ed6",
    "traefik": "#7048e8",
}
START = "<!-- compare:start -->"
END = "<!-- compare:end -->"


def load_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 15:
                continue
            p, proxy, state, role, rps, p50, p99, sock, non2xx, req, copies, conns, note = parts[:13]
            if proxy == "shadow_proxy":
                # Results measured before the binary, with the example it grew from.
                proxy = "tower-mirror-proxy"
            served, cpu = parts[13:15]
            rows.append(
                dict(
                    passno=int(p),
                    proxy=proxy,
                    state=state,
                    role=role,
                    rps=float(rps),
                    p50=float(p50),
                    p99=float(p99),
                    errors=int(sock) + int(non2xx),
                    socket_errors=int(sock),
                    non2xx=int(non2xx),
                    requests=int(req),
                    copies=None if copies == "-" else int(copies),
                    conns=None if conns == "-" else int(conns),
                    note=note,
                    served=int(served),
                    cpu=float(cpu),
                )
            )
    return rows


def load_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            meta[key] = value
    return meta


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if b else None


def summarize(rows):
    """One summary per (proxy, state) with medians over passes."""
    out = {}
    for proxy in PROXIES:
        mine = [r for r in rows if r["proxy"] == proxy]
        if not mine:
            continue
        base = [r for r in mine if r["role"] == "base"]
        out[(proxy, "none")] = dict(
            rps=median(r["rps"] for r in base),
            p50=median(r["p50"] for r in base),
            p99=median(r["p99"] for r in base),
            cpu=median(r["cpu"] for r in base),
            errors=sum(r["errors"] for r in base),
            runs=len(base),
            copies=None,
            requests=sum(r["requests"] for r in base),
            rps_ratio=1.0,
            p99_ratio=1.0,
            notes=[r["note"] for r in base if r["note"] != "-"],
        )
        for state in STATES[1:]:
            mirror = [r for r in mine if r["state"] == state and r["role"] == "mirror"]
            if not mirror:
                continue
            pairs = []
            for m in mirror:
                b = [r for r in base if r["state"] == state and r["passno"] == m["passno"]]
                if b:
                    pairs.append((m, b[0]))
            copies = [r["copies"] for r in mirror if r["copies"] is not None]
            out[(proxy, state)] = dict(
                rps=median(r["rps"] for r in mirror),
                p50=median(r["p50"] for r in mirror),
                p99=median(r["p99"] for r in mirror),
                cpu=median(r["cpu"] for r in mirror),
                errors=sum(r["errors"] for r in mirror),
                runs=len(mirror),
                copies=sum(copies) if copies else None,
                conns=sum(r["conns"] for r in mirror if r["conns"] is not None),
                requests=sum(r["requests"] for r in mirror),
                served=sum(r["served"] for r in mirror),
                base_rps=median(b["rps"] for _, b in pairs),
                rps_ratio=median(ratio(m["rps"], b["rps"]) for m, b in pairs),
                p99_ratio=median(ratio(m["p99"], b["p99"]) for m, b in pairs),
                notes=[r["note"] for r in mirror if r["note"] != "-"],
            )
    return out


def nonzero(stats):
    """tower-mirror-proxy's stats line without its zero counters."""
    kept = [kv for kv in stats.split() if not kv.endswith("=0")]
    return " ".join(kept) if kept else stats


def fmt_num(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def fmt_ms(v):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ratio(v):
    return "—" if v is None else f"{v:.2f}×"


def copies_cell(state, s):
    if state == "none":
        return "—"
    if state == "down":
        return "— (nothing listens)"
    if s["copies"] is None:
        return "—"
    share = 100.0 * s["copies"] / s["served"] if s["served"] else 0.0
    cell = f"{s['copies']:,} ({share:.1f}%)"
    if s.get("conns"):
        cell += f" on {s['conns']:,} conns"
    return cell


def table(summary):
    lines = [
        "| proxy | state | req/s | p50 ms | p99 ms | errors | copies reached shadow "
        "| req/s vs own baseline | p99 vs own baseline | proxy core busy |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for proxy in PROXIES:
        for state in STATES:
            s = summary.get((proxy, state))
            if s is None:
                continue
            lines.append(
                f"| {proxy} | {STATE_NAMES[state]} | {fmt_num(s['rps'])} | {fmt_ms(s['p50'])} "
                f"| {fmt_ms(s['p99'])} | {s['errors']:,} | {copies_cell(state, s)} "
                f"| {fmt_ratio(s['rps_ratio'])} | {fmt_ratio(s['p99_ratio'])} "
                f"| {fmt_num(s['cpu'])}% |"
            )
    return "\n".join(lines)


def targets(summary):
    """tower-mirror-proxy's targets, each as (met, text)."""
    out = []
    ours = lambda state: summary.get(("tower-mirror-proxy", state))  # noqa: E731

    def check(state, min_ratio, max_p99, min_copies=None):
        s = ours(state)
        if s is None:
            return
        ok = (s["rps_ratio"] or 0) >= min_ratio and (s["p99_ratio"] or 99) <= max_p99
        text = (
            f"{STATE_NAMES[state]}: {fmt_ratio(s['rps_ratio'])} of its baseline "
            f"(target ≥ {min_ratio}×), p99 {fmt_ratio(s['p99_ratio'])} (target ≤ {max_p99}×)"
        )
        if min_copies is not None:
            share = 100.0 * (s["copies"] or 0) / s["served"] if s["served"] else 0.0
            ok = ok and share >= min_copies
            text += f", {share:.1f}% of copies delivered (target ≥ {min_copies}%)"
        out.append((ok, text))

    # Issue 18's goals: a fast shadow past the one-exchange ceiling (0.67×; stretch 0.75×),
    # flat tails with a slow or hung shadow, and no throughput lost for them.
    check("fast", 0.67, 2.0, 99.0)
    check("fast-h2", 0.67, 2.0, 99.0)
    check("slow", 0.8, 1.5)
    check("down", 0.9, 1.5)
    check("hung", 0.9, 1.3)
    for state in STATES:
        s = ours(state)
        if s is None:
            continue
        behind = []
        # The peers copy to the fast shadow over HTTP/1.1 only.
        peer_state = "fast" if state == "fast-h2" else state
        for peer in PROXIES[1:]:
            p = summary.get((peer, peer_state))
            if p is not None and (s["rps"] or 0) <= (p["rps"] or 0):
                behind.append(peer)
        envoy = summary.get(("envoy", peer_state))
        two_x = envoy is None or (s["rps"] or 0) >= 2 * (envoy["rps"] or 0)
        text = f"{STATE_NAMES[state]}: ahead of every peer in req/s"
        if behind:
            text = f"{STATE_NAMES[state]}: not ahead of {', '.join(behind)} in req/s"
        if envoy is not None:
            text += f"; {ratio(s['rps'], envoy['rps']) or 0:.2f}× Envoy (target ≥ 2×)"
        out.append((not behind and two_x, text))
    errors = sum(s["errors"] for (proxy, _), s in summary.items() if proxy == "tower-mirror-proxy")
    out.append((errors == 0, f"client errors over all its runs: {errors} (target 0)"))
    return out


def nice_max(raw):
    """The smallest 4 x step >= raw with a round step."""
    raw = max(raw, 1e-9)
    power = 10 ** math.floor(math.log10(raw / 4))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 10):
        if 4 * m * power >= raw:
            return 4 * m * power
    return 40 * power


def undisturbed(rows, proxy="tower-mirror-proxy", busy=90.0):
    """Per-pass pairs in which the proxy kept its core at least `busy`% busy in both runs.

    The proxy saturates its core when nothing else runs, so a pair below that was slowed by
    other work on the machine; these pairs show the proxy's own cost of mirroring.
    """
    out = []
    for state in STATES[1:]:
        for m in rows:
            if m["proxy"] != proxy or m["state"] != state or m["role"] != "mirror":
                continue
            b = [
                r
                for r in rows
                if r["proxy"] == proxy
                and r["state"] == state
                and r["role"] == "base"
                and r["passno"] == m["passno"]
            ]
            if b and m["cpu"] >= busy and b[0]["cpu"] >= busy:
                out.append((state, m["passno"], ratio(m["rps"], b[0]["rps"]), ratio(m["p99"], b[0]["p99"])))
    return out


def svg_chart(summary, meta):
    """Two panels: median req/s per state, and req/s relative to each proxy's own baseline."""
    proxies = [p for p in PROXIES if (p, "none") in summary]
    width, left, right = 960, 70, 20
    panel_h, top = 230, 60
    gap = 70
    height = top + 2 * panel_h + gap + 70
    group_w = (width - left - right) / len(STATES)
    bar_w = min(34.0, (group_w - 24) / max(1, len(proxies)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
        "Traffic mirroring on loopback: one proxy worker on its own core</text>",
        f'<text x="{width / 2}" y="42" text-anchor="middle" fill="#555">'
        f"wrk -t1 -c{html.escape(meta.get('connections', '?'))} "
        f"-d{html.escape(meta.get('duration', '?'))}s, median of "
        f"{html.escape(meta.get('passes', '?'))} pass(es); each mirrored run next to its own "
        "no-mirror baseline</text>",
    ]

    def panel(y0, title, value, fmt, vmax, ref=None):
        plot_top, plot_bottom = y0 + 24, y0 + panel_h
        parts.append(f'<text x="{left}" y="{y0 + 12}" font-weight="bold">{title}</text>')
        for i in range(5):
            v = vmax * i / 4
            y = plot_bottom - (plot_bottom - plot_top) * i / 4
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                'stroke="#e5e5e5"/>'
            )
            parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
                f"{fmt(v)}</text>"
            )
        if ref is not None:
            y = plot_bottom - (plot_bottom - plot_top) * ref / vmax
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                'stroke="#888" stroke-dasharray="4 3"/>'
            )
        for gi, state in enumerate(STATES):
            gx = left + gi * group_w
            parts.append(
                f'<text x="{gx + group_w / 2:.1f}" y="{plot_bottom + 16}" text-anchor="middle">'
                f"{SHORT_STATE[state]}</text>"
            )
            x0 = gx + (group_w - bar_w * len(proxies)) / 2
            for pi, proxy in enumerate(proxies):
                s = summary.get((proxy, state))
                v = value(s) if s else None
                x = x0 + pi * bar_w
                if v is None:
                    continue
                h = (plot_bottom - plot_top) * min(v, vmax) / vmax
                parts.append(
                    f'<rect x="{x + 2:.1f}" y="{plot_bottom - h:.1f}" width="{bar_w - 4:.1f}" '
                    f'height="{h:.1f}" fill="{COLORS[proxy]}"><title>{proxy}, '
                    f"{STATE_NAMES[state]}: {fmt(v)}</title></rect>"
                )
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{plot_bottom - h - 4:.1f}" '
                    f'text-anchor="middle" font-size="9" fill="#333">{fmt(v)}</text>'
                )
        parts.append(
            f'<line x1="{left}" y1="{plot_bottom}" x2="{width - right}" y2="{plot_bottom}" '
            'stroke="#333"/>'
        )

    def kfmt(v):
        if v >= 1000:
            return f"{v / 1000:.1f}k".replace(".0k", "k")
        return f"{v:.0f}"

    rps_max = nice_max(max([s["rps"] or 0 for s in summary.values()] + [1.0]) * 1.08)
    panel(top, "Requests per second (median)", lambda s: s["rps"], kfmt, rps_max)
    ratio_max = nice_max(max([s["rps_ratio"] or 0 for s in summary.values()] + [1.0]) * 1.08)
    panel(
        top + panel_h + gap,
        "Requests per second relative to the proxy's own no-mirror baseline",
        lambda s: s["rps_ratio"],
        lambda v: f"{v:.2f}",
        ratio_max,
        ref=1.0,
    )
    ly = height - 22
    lx = left
    for proxy in proxies:
        parts.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{COLORS[proxy]}"/>')
        parts.append(f'<text x="{lx + 17}" y="{ly}">{proxy}</text>')
        lx += 130
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def section(summary, meta, commands, checks, svg_rel, clean):
    quick = meta.get("quick") == "1"
    lines = [
        START,
        "## Mirroring compared: tower-mirror-proxy vs nginx, Envoy and Traefik",
        "",
        f"Generated by `bash benches/compare/run.sh` on {meta.get('started', '?')}"
        + (" as a QUICK smoke run (numbers are not meaningful)." if quick else "."),
        f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, Linux "
        f"{meta.get('kernel', '?')}; load average before {meta.get('load_before', '?')}, "
        f"after {meta.get('load_after', '?')}. Other work on a shared machine makes the "
        "numbers drift: compare ratios rather than absolute req/s.",
        "",
        "Set-up: everything on 127.0.0.1. Each proxy runs one worker pinned to core 1 "
        "(nginx `worker_processes 1`, Envoy `--concurrency 1 --disable-hot-restart`, Traefik "
        "`GOMAXPROCS=1`, tower-mirror-proxy `--worker-threads 1`). The primary (an nginx answering "
        '`return 200 "ok"`), the shadows and wrk share core 0, so core 0 limits the baselines '
        "and every copy sent to a live shadow costs core 0 work too. Shadow states: *fast* is a "
        'second nginx answering `"ok"`, *fast h2* the same nginx on a cleartext HTTP/2 listener '
        "(`listen ... http2`, prior knowledge, `http2_max_concurrent_streams 1024`), which only "
        "tower-mirror-proxy is run against (`--shadow-http2`), *200 ms* is `echo_sleep 0.2` from "
        "libnginx-mod-http-echo, *down* is a port with nothing listening, *hung* accepts and "
        "reads but never answers (`benches/compare/hung_shadow.py`). Every mirrored run is "
        "measured right next to a no-mirror baseline of the same proxy (order alternating per "
        "pass), with fresh processes and ports; the table gives medians over passes, ratios "
        "are medians of the per-pass ratios. *errors* = wrk socket errors + non-2xx responses "
        "summed over the passes; *copies reached shadow* = requests the shadow logged or read, "
        "over all passes (readiness probes excluded), as a share of the requests the primary "
        "served (from its nginx `stub_status`), and how many connections they came on. "
        "The no-mirror row is the median of all the proxy's baseline runs. *proxy core busy* is "
        "the CPU time the proxy used during the wrk run over its length (100% = core 1 "
        "saturated: the proxy is the bottleneck; less: core 0 is).",
        "",
        table(summary),
        "",
        f"![req/s per proxy and shadow state]({svg_rel})",
        "",
        "tower-mirror-proxy against its targets:",
        "",
    ]
    for ok, text in checks:
        lines.append(f"- {'met' if ok else '**not met**'}: {text}")
    if clean:
        lines += [
            "",
            "tower-mirror-proxy pairs that ran undisturbed (its core ≥ 90% busy in both runs; when "
            "another program takes CPU the proxy no longer saturates its core): "
            + "; ".join(
                f"{SHORT_STATE[state]} pass {p}: {fmt_ratio(r)} req/s, {fmt_ratio(q)} p99"
                for state, p, r, q in clean
            )
            + ".",
        ]
    ours_notes = [
        (state, summary[("tower-mirror-proxy", state)]["notes"])
        for state in STATES[1:]
        if ("tower-mirror-proxy", state) in summary and summary[("tower-mirror-proxy", state)]["notes"]
    ]
    if ours_notes:
        lines += ["", "tower-mirror-proxy's own mirror stats at exit (one line per pass):", ""]
        for state, notes in ours_notes:
            for note in notes:
                lines.append(f"- {SHORT_STATE[state]}: `{nonzero(note)}`")
    other_notes = []
    for (proxy, state), s in summary.items():
        if proxy == "tower-mirror-proxy" or not s["notes"]:
            continue
        for note in sorted(set(s["notes"])):
            other_notes.append(
                f"- {proxy}, {STATE_NAMES[state]}: {note} "
                f"({s['notes'].count(note)} of {s['runs']} runs)"
            )
    if other_notes:
        lines += ["", "Run notes:", ""] + other_notes
    lines += [
        "",
        "Peer configuration notes:",
        "",
        "- nginx: `mirror /__mirror; mirror_request_body on;` with the internal location "
        "proxying to the shadow upstream, `proxy_connect/send/read_timeout 5s` there (the same "
        "5 s as tower-mirror-proxy's default `--timeout`), keep-alive pools of 64 to primary and "
        "shadow. nginx does not read the client's next request on a keep-alive connection "
        "until the mirror subrequest has finished, so a slow or hung shadow throttles clients.",
        "- Envoy: `request_mirror_policies` with `runtime_fraction` 100%, route timeout 5 s "
        "(it also bounds the copies), default circuit breakers (1024 pending/requests per "
        "cluster), which drop extra copies without a trace at the client.",
        "- Traefik: file provider, a `mirroring` service with `mirrors: [{name: shadow, "
        "percent: 100}]`, `global.checkNewVersion: false`, `sendAnonymousUsage: false`. "
        "Traefik's mirrors have no timeout and no limit on copies in flight: with a hung "
        "shadow the copies pile up as open connections until the run ends.",
        "- tower-mirror-proxy: default settings (`--timeout 5s`, each copy's own timeout "
        "spread over 2.5–5 s, `--max-in-flight 256`, `--upstream-max-connections 256`, circuit "
        "breaker on: 5 failures open it for 10 s); the baseline is the same binary without "
        "`--shadow`.",
        "- Closed loop only: plain wrk cannot hold a fixed rate and wrk2 is not packaged in "
        "Debian 12, so the optional fixed-rate run is skipped. wrk counts a timeout only when "
        "a late answer arrives, so requests that never get an answer show up as lost "
        "throughput rather than as errors.",
        "",
        "Versions: "
        + ", ".join(
            f"{name} {meta.get(key, '?')}"
            for name, key in [
                ("nginx", "nginx"),
                ("libnginx-mod-http-echo", "echo_module"),
                ("Envoy", "envoy"),
                ("Traefik", "traefik"),
                ("wrk", "wrk"),
            ]
        )
        + f"; tower-mirror-proxy at commit {meta.get('commit', '?')} built with {meta.get('rustc', '?')}"
        " (`cargo build --release -p tower-mirror-proxy`).",
        "",
        "Commands (ports are fresh for every run; configs are rendered from "
        "`benches/compare/` into `target/compare/runs/`):",
        "",
        "```sh",
        "# load, per run",
        meta.get("wrk_cmd", "?"),
    ]
    lines += commands
    lines += ["```", END]
    return "\n".join(lines) + "\n"


def commands_lines(path, root):
    out = []
    try:
        with open(path) as f:
            for line in f:
                out.append(line.rstrip("\n").replace(root + "/", ""))
    except FileNotFoundError:
        pass
    return out


def write_markdown(path, body):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if START in text and END in text:
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + body.rstrip("\n") + tail
    elif text:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        text = "# Benchmarks\n\n" + body
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--commands", required=True)
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--root", required=True, help="the repository, to shorten paths")
    args = ap.parse_args()
    rows = load_rows(args.results)
    if not rows:
        raise SystemExit(f"no results in {args.results}")
    meta = load_meta(args.meta)
    summary = summarize(rows)
    checks = targets(summary)
    root = os.path.abspath(args.root)
    svg_rel = os.path.relpath(args.svg, os.path.dirname(os.path.abspath(args.markdown)))
    with open(args.svg, "w") as f:
        f.write(svg_chart(summary, meta))
    clean = undisturbed(rows)
    body = section(summary, meta, commands_lines(args.commands, root), checks, svg_rel, clean)
    write_markdown(args.markdown, body)
    print(table(summary))
    print()
    for ok, text in checks:
        print(f"{'met    ' if ok else 'NOT MET'} {text}")
    for state, p, r, q in clean:
        print(f"undisturbed tower-mirror-proxy pair: {SHORT_STATE[state]} pass {p}: {r:.2f}x req/s, {q:.2f}x p99")
    print(f"\nwrote {args.markdown} (section {START}) and {args.svg}")


if __name__ == "__main__":
    main()
