// Turns the benchmark's results into bench/results/latest.md (tables, every figure against the
// issue's targets) and latest.svg (gas per payment vs batch size; relayer latency vs load).
import type { Baseline, GasResults, GasRow } from "./gas.js";
import { INTENTS_PER_REQUEST, MODE_LABEL, type Mode, type RelayerRun, type RelayerSetup } from "./relayer.js";
import type { SigningRate } from "./signing.js";

export interface Environment {
  date: string;
  commit: string | null;
  quick: boolean;
  node: string;
  cpu: string;
  cpus: number;
  /** os.loadavg() (1, 5, 15 minutes) at these moments. */
  loadAverage: Record<"start" | "beforeRelayer" | "end", [number, number, number]>;
  durationSeconds: number;
}

export interface Target {
  figure: string;
  measured: string;
  target: string;
  met: boolean;
}

export interface BenchResults {
  environment: Environment;
  targets: Target[];
  gas?: GasResults & { snapshotMismatches: string[] };
  offchain?: { backend: string; seconds: number; rates: SigningRate[] };
  relayer?: { setup: RelayerSetup; runs: RelayerRun[] };
}

const n = (value: number) => Math.round(value).toLocaleString("en-US");
const verdict = (met: boolean) => (met ? "met" : "**missed**");

/** Every figure the issue sets a target for, measured or not (unmeasured = missed, said so). */
export function evaluateTargets(results: Omit<BenchResults, "targets" | "environment">): Target[] {
  const targets: Target[] = [];
  const gasRow = (key: string) =>
    [...(results.gas?.escrow ?? []), ...(results.gas?.hub ?? []), ...(results.gas?.channels ?? [])].find(
      (r) => r.key === key,
    );
  const gasTargets: [string, string][] = [
    ["hub.marginal100.distinct", "hub marginal gas per payment, batch of 100, 100 payers → 100 payees"],
    ["hub.marginal100.merchant", "hub marginal gas per payment, batch of 100, 100 payers → one merchant"],
    ["escrow.createErc20", "escrow create (ERC-20)"],
    ["escrow.release", "escrow release"],
    ["escrow.releaseWithSig", "escrow releaseWithSig"],
    ["channels.open", "channel open"],
    ["channels.claim", "channel claim"],
    ["channels.close", "channel close"],
    ["channels.amortized10000", "gas per micropayment, 10,000 vouchers"],
  ];
  for (const [key, figure] of gasTargets) {
    const row = gasRow(key);
    if (row?.target === undefined) {
      if (results.gas === undefined) continue;
      targets.push({ figure, measured: "not measured", target: "", met: false });
      continue;
    }
    targets.push({ figure, measured: n(row.gas), target: `≤ ${n(row.target)}`, met: row.gas <= row.target });
  }
  if (results.gas) {
    const { erc20Existing, erc20New } = results.gas.baselines;
    for (const key of ["hub.marginal100.distinct", "hub.marginal100.merchant"]) {
      const row = gasRow(key);
      if (row === undefined) continue;
      const cheaper = Math.min(erc20Existing.gas, erc20New.gas);
      targets.push({
        figure: `${key.endsWith("distinct") ? "distinct payees" : "one merchant"}: cheaper than either ERC-20 transfer`,
        measured: `${n(row.gas)} vs ${n(erc20Existing.gas)} / ${n(erc20New.gas)}`,
        target: `< ${n(cheaper)}`,
        met: row.gas < cheaper,
      });
    }
  }
  if (results.offchain) {
    const rate = results.offchain.rates.find(
      (r) => r.name === `voucher verify, ${backendLabel(results.offchain?.backend)}`,
    );
    targets.push({
      figure: `voucher verifications per second, one core (default backend: ${results.offchain.backend})`,
      measured: rate ? n(rate.perSecond) : "not measured",
      target: "≥ 10,000",
      met: rate !== undefined && rate.perSecond >= 10_000,
    });
  }
  if (results.relayer) {
    const run = (mode: Mode, offered: number) =>
      results.relayer?.runs.find((r) => r.mode === mode && r.offered === offered);
    const top = Math.max(...results.relayer.runs.map((r) => r.offered));
    const mid = results.relayer.runs.some((r) => r.offered === 1000) ? 1000 : top;
    const baseTop = run("batch1", top);
    // The targets hold for each way of submitting (one intent per request, many per request) and
    // for each store (embedded, or a PostgreSQL server).
    const how: Record<"batched" | "multi" | "pg", string> = {
      batched: "one intent per request",
      multi: `${INTENTS_PER_REQUEST} intents per request`,
      pg: "one intent per request, PostgreSQL server",
    };
    for (const mode of ["batched", "multi", "pg"] as const) {
      const runs = results.relayer.runs.filter((r) => r.mode === mode);
      if (runs.length === 0) continue;
      const best = Math.max(0, ...runs.map((r) => r.settledPerSecond));
      const atTop = run(mode, top);
      const atMid = run(mode, mid);
      const busy = atTop?.cpu ? `, cores ${atTop.cpu.busyPercent}% busy` : "";
      targets.push({
        figure: `relayer sustained settled intents/s, ${how[mode]} (best offered load; at ${n(top)}/s: ${atTop ? n(atTop.settledPerSecond) : "–"}${busy})`,
        measured: n(best),
        target: "≥ 2,000",
        met: best >= 2_000,
      });
      if (atMid) {
        targets.push({
          figure: `relayer p99 accept latency at ${n(mid)}/s offered, ${how[mode]}`,
          measured: `${atMid.acceptP99Ms} ms`,
          target: "≤ 50 ms",
          met: atMid.acceptP99Ms <= 50,
        });
        targets.push({
          figure: `relayer p99 accept-to-confirmed at ${n(mid)}/s offered, ${how[mode]}`,
          measured: `${n(atMid.confirmP99Ms)} ms${atMid.unsettled > 0 ? ` (${n(atMid.unsettled)} unsettled)` : ""}`,
          target: "≤ 2,000 ms",
          met: atMid.confirmP99Ms <= 2_000 && atMid.unsettled === 0,
        });
      }
    }
    const atTop = run("batched", top);
    if (atTop && baseTop) {
      const ratio =
        baseTop.settledPerSecond > 0 ? atTop.settledPerSecond / baseTop.settledPerSecond : Number.POSITIVE_INFINITY;
      targets.push({
        figure: `relayer throughput vs batch size 1 at ${n(top)}/s offered`,
        measured: `${ratio.toFixed(1)}×`,
        target: "≥ 10×",
        met: ratio >= 10,
      });
    }
  }
  return targets;
}

function backendLabel(backend: string | undefined): string {
  return backend === "native" ? "native secp256k1" : "pure JS (@noble/curves)";
}

function gasTable(rows: GasRow[], baselines: GasResults["baselines"]): string[] {
  const lines = [
    "| operation | gas | instead: | gas | × | target | | note |",
    "| --- | ---: | --- | ---: | ---: | ---: | --- | --- |",
  ];
  for (const row of rows) {
    const base = row.baseline ? baselines[row.baseline as Baseline] : undefined;
    lines.push(
      `| ${row.label} | ${n(row.gas)} | ${base ? base.label : ""} | ${base ? n(base.gas) : ""} | ${
        base ? (row.gas / base.gas).toFixed(2) : ""
      } | ${row.target === undefined ? "" : `≤ ${n(row.target)}`} | ${
        row.target === undefined ? "" : verdict(row.gas <= row.target)
      } | ${row.note ?? ""} |`,
    );
  }
  return lines;
}

export function markdown(results: BenchResults): string {
  const env = results.environment;
  const load = (l: [number, number, number]) => l.map((x) => x.toFixed(2)).join(" / ");
  const out: string[] = [
    "# settlekit benchmarks",
    "",
    `Run ${env.date}${env.commit ? ` at commit \`${env.commit.slice(0, 12)}\`` : ""}, ${
      env.quick ? "**quick mode** (fewer intents and loads)" : "full mode"
    }, ${env.durationSeconds} s. Node ${env.node}, ${env.cpus} × ${env.cpu}.`,
    "",
    `Load average (1 / 5 / 15 min, ${env.cpus} CPUs): ${load(env.loadAverage.start)} at the start, ${load(
      env.loadAverage.beforeRelayer,
    )} before the relayer runs, ${load(env.loadAverage.end)} at the end. The relayer figures depend on it; the gas figures do not.`,
    "",
    "Written by `npm run bench` (`scripts/bench.ts`); do not edit by hand.",
    "",
    "## Against the targets",
    "",
    "| figure | measured | target | |",
    "| --- | ---: | ---: | --- |",
    ...results.targets.map((t) => `| ${t.figure} | ${t.measured} | ${t.target} | ${verdict(t.met)} |`),
    "",
  ];

  const gas = results.gas;
  if (gas) {
    const { baselines } = gas;
    out.push(
      "## Gas",
      "",
      "Full-transaction `gasUsed` from receipts on the in-process Hardhat network (cancun), warm state as in",
      "`test/*/gas.test.ts` (never a token's, payer's or recipient's first use). Baselines measured in the same run with the",
      'same 6-decimal OpenZeppelin ERC-20 (`TestToken`): the sender has sent before; the "existing holder" already holds it.',
      `× = gas ÷ the baseline's gas. ${
        gas.snapshotMismatches.length === 0
          ? "Every figure that the committed snapshots `gas/*.json` also record is identical to the snapshot."
          : `Figures differing from the committed snapshots: ${gas.snapshotMismatches.join("; ")}.`
      }`,
      "",
      "| baseline | gas |",
      "| --- | ---: |",
      ...Object.values(baselines).map((b) => `| ${b.label} | ${n(b.gas)} |`),
      "",
      "### Escrow",
      "",
      ...gasTable(gas.escrow, baselines),
      "",
      "### SettlementHub",
      "",
      ...gasTable(gas.hub, baselines),
      "",
      "settleBatch by size (payers' nonce words already in use; every payee, the merchant and the relayer already hold a hub balance):",
      "",
      "| intents (N) | N payers → N payees: tx gas | per payment | marginal | × ERC-20 (existing / new) | N payers → one merchant: tx gas | per payment | marginal | × ERC-20 (existing / new) |",
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    const ratio = (gasPer: number | undefined) =>
      gasPer === undefined
        ? ""
        : `${(gasPer / baselines.erc20Existing.gas).toFixed(2)} / ${(gasPer / baselines.erc20New.gas).toFixed(2)}`;
    for (const d of gas.batches.distinct) {
      const m = gas.batches.merchant.find((p) => p.size === d.size);
      out.push(
        `| ${n(d.size)} | ${n(d.gas)} | ${n(d.perPayment)} | ${d.marginal === undefined ? "" : n(d.marginal)} | ${ratio(
          d.marginal,
        )} | ${m ? n(m.gas) : ""} | ${m ? n(m.perPayment) : ""} | ${m?.marginal === undefined ? "" : n(m.marginal)} | ${ratio(
          m?.marginal,
        )} |`,
      );
    }
    const largest = gas.batches.distinct[gas.batches.distinct.length - 1];
    if (largest) {
      out.push(
        "",
        `Marginal = (batch of N − batch of 1) / (N − 1). The largest batch (${n(largest.size)}) uses ${n(
          largest.gas,
        )} gas, under the 16,777,216 per-transaction cap of EIP-7825.`,
      );
    }
    out.push("", "### PaymentChannels", "", ...gasTable(gas.channels, baselines), "");
  }

  const off = results.offchain;
  if (off) {
    out.push(
      "## Off-chain signing (one core)",
      "",
      `Operations per CPU-second of this process's main thread, median of 3 × ${(off.seconds / 3).toFixed(2)} s (the module behind`,
      `\`npm run bench:signing\`). Default recovery backend: ${off.backend}.`,
      "",
      "| operation | per second |",
      "| --- | ---: |",
      ...off.rates.map((r) => `| ${r.name} | ${n(r.perSecond)} |`),
      "",
    );
  }

  const rel = results.relayer;
  if (rel) {
    const s = rel.setup;
    out.push(
      "## Relayer",
      "",
      `Local ${s.chain}; the relayer runs as \`npm start\` runs it, in its own process with a fresh embedded store per run`,
      s.databaseServer === null
        ? "(the PostgreSQL-server runs were skipped: PostgreSQL is not installed),"
        : `(in the "${MODE_LABEL.pg}" runs, a fresh database on a local server instead: ${s.databaseServer}, default settings, fsync on),`,
      `flags \`${s.relayerFlags.join(" ")}\` (batch size 1 adds \`${s.batch1Flags.join(" ")}\`; batched uses the default batch size and wait).`,
      `${n(s.payers)} payers → ${n(s.merchants)} merchants, native token. Each run first settles ${s.warmUpIntents} unmeasured warm-up intents;`,
      "then an open-loop generator POSTs pre-signed intents at the offered rate regardless of answers: one per `POST /v1/payments`,",
      `or, in the "${MODE_LABEL.multi}" runs, ${INTENTS_PER_REQUEST} per \`POST /v1/payments/batch\`, each request sent when its first intent is due.`,
      "Accept latency counts from each request's scheduled send time to its answer; accept-to-confirmed from the answer to the moment the benchmark sees",
      `the intent's \`PaymentSettled\` in a mined block (logs polled every ${s.watcherPollMs} ms). Settled/s = settled intents ÷`,
      '(last settlement seen − first scheduled send). "Unsettled" = accepted but not on-chain when the run stopped waiting.',
      "The load generator, the relayer, anvil (and the PostgreSQL server) share this machine's CPUs.",
      "",
      "| offered /s | mode | sent /s | accepted | settled | settled /s | accept p50 | accept p99 | confirmed p50 | confirmed p99 | txs | unsettled | rejected |",
      "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    );
    for (const r of rel.runs) {
      const rejected = Object.entries(r.rejected)
        .map(([code, count]) => `${code} ${count}`)
        .join(", ");
      out.push(
        `| ${n(r.offered)} | ${MODE_LABEL[r.mode]} | ${n(r.sentRate)} | ${n(r.accepted)} | ${n(
          r.settled,
        )} | ${n(r.settledPerSecond)} | ${r.acceptP50Ms} ms | ${r.acceptP99Ms} ms | ${n(r.confirmP50Ms)} ms | ${n(
          r.confirmP99Ms,
        )} ms | ${n(r.transactions)} | ${n(r.unsettled)} | ${rejected || "–"} |`,
      );
    }
    out.push(
      "",
      "| offered /s | batched settled /s | batch size 1 settled /s | ratio |",
      "| ---: | ---: | ---: | ---: |",
    );
    for (const b of rel.runs.filter((r) => r.mode === "batched")) {
      const one = rel.runs.find((r) => r.mode === "batch1" && r.offered === b.offered);
      if (!one) continue;
      out.push(
        `| ${n(b.offered)} | ${n(b.settledPerSecond)} | ${n(one.settledPerSecond)} | ${
          one.settledPerSecond > 0 ? `${(b.settledPerSecond / one.settledPerSecond).toFixed(1)}×` : "–"
        } |`,
      );
    }
    const withCpu = rel.runs.filter((r) => r.cpu !== null);
    if (withCpu.length > 0) {
      out.push(
        "",
        "CPU time (user + system, every thread) per settled intent while each run was measured (idle polling included), by",
        "process, and how busy the machine's cores were. The processes share the cores: a run with them near 100% busy",
        "is CPU-bound, and settles faster only if the processes together spend less CPU per intent. The embedded store runs",
        "in a thread of the relayer, so its CPU counts in the relayer's column; the PostgreSQL server's is its own column.",
        "",
        "| offered /s | mode | relayer | anvil | generator + watcher | PostgreSQL server | total | cores busy |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      );
      for (const r of withCpu) {
        const c = r.cpu as NonNullable<RelayerRun["cpu"]>;
        const ms = (value: number) => `${value.toFixed(2)} ms`;
        const total = c.relayerMs + c.nodeMs + c.generatorMs + (c.databaseMs ?? 0);
        out.push(
          `| ${n(r.offered)} | ${MODE_LABEL[r.mode]} | ${ms(c.relayerMs)} | ${ms(c.nodeMs)} | ${ms(c.generatorMs)} | ${
            c.databaseMs === null ? "–" : ms(c.databaseMs)
          } | ${ms(total)} | ${c.busyPercent}% of ${c.cores} |`,
        );
      }
    }
    out.push("");
  }
  out.push("![gas per payment vs batch size; relayer latency vs offered load](latest.svg)", "");
  return out.join("\n");
}

// --- SVG -----------------------------------------------------------------------------------

const W = 480;
const H = 400;
const M = { left: 64, right: 16, top: 36, bottom: 112 };

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function panel(
  x0: number,
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  opts: { xTicks: number[]; logY: boolean; yMin?: number },
): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && y > 0);
  const xs = opts.xTicks;
  const lx = (x: number) => Math.log10(x);
  const [xMin, xMax] = [lx(Math.min(...xs)), lx(Math.max(...xs))];
  const yMaxRaw = Math.max(1, ...all.map(([, y]) => y));
  const yMin = opts.logY ? 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...all.map(([, y]) => y), yMaxRaw)))) : 0;
  const yMax = opts.logY ? 10 ** Math.ceil(Math.log10(yMaxRaw)) : Math.ceil((yMaxRaw * 1.1) / 10_000) * 10_000;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x: number) => x0 + M.left + (xMax === xMin ? pw / 2 : ((lx(x) - xMin) / (xMax - xMin)) * pw);
  const py = (y: number) =>
    M.top +
    ph -
    (opts.logY ? ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph : (y / yMax) * ph);
  const parts: string[] = [
    `<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${x0 + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
  ];
  for (const x of xs) {
    parts.push(
      `<line x1="${px(x)}" y1="${M.top}" x2="${px(x)}" y2="${M.top + ph}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${M.top + ph + 14}" text-anchor="middle">${x.toLocaleString("en-US")}</text>`,
    );
  }
  const yTicks: number[] = [];
  if (opts.logY) for (let y = yMin; y <= yMax; y *= 10) yTicks.push(y);
  else for (let k = 0; k <= 5; k++) yTicks.push((yMax / 5) * k);
  for (const y of yTicks) {
    parts.push(
      `<line x1="${x0 + M.left}" y1="${py(y)}" x2="${x0 + M.left + pw}" y2="${py(y)}" stroke="#eee"/>`,
      `<text x="${x0 + M.left - 4}" y="${py(y) + 4}" text-anchor="end">${y.toLocaleString("en-US")}</text>`,
    );
  }
  parts.push(
    `<text x="${x0 + M.left + pw / 2}" y="${M.top + ph + 30}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(${x0 + 14},${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && y > 0);
    const dash = s.dashed ? ' stroke-dasharray="5,4"' : "";
    if (pts.length > 0) {
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts
          .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`)
          .join(" ")}"/>`,
        ...pts.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`),
      );
    }
    const lxPos = x0 + M.left + (i % 2) * (pw / 2);
    const lyPos = M.top + ph + 46 + Math.floor(i / 2) * 14;
    parts.push(
      `<line x1="${lxPos}" y1="${lyPos - 4}" x2="${lxPos + 18}" y2="${lyPos - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lxPos + 22}" y="${lyPos}">${esc(s.label)}</text>`,
    );
  });
  return parts.join("\n");
}

export function svg(results: BenchResults): string {
  const panels: string[] = [];
  const gas = results.gas;
  if (gas) {
    const sizes = gas.batches.distinct.map((p) => p.size);
    const flat = (gasValue: number) => sizes.map((s) => [s, gasValue] as [number, number]);
    panels.push(
      panel(
        0,
        "Hub gas per payment vs batch size",
        "intents per settleBatch (log)",
        "gas per payment",
        [
          {
            label: "settleBatch, distinct payees",
            color: "#1f77b4",
            points: gas.batches.distinct.map((p) => [p.size, p.perPayment]),
          },
          {
            label: "settleBatch, one merchant",
            color: "#2ca02c",
            points: gas.batches.merchant.map((p) => [p.size, p.perPayment]),
          },
          {
            label: "ERC-20 transfer, new holder",
            color: "#d62728",
            dashed: true,
            points: flat(gas.baselines.erc20New.gas),
          },
          {
            label: "ERC-20 transfer, existing holder",
            color: "#ff7f0e",
            dashed: true,
            points: flat(gas.baselines.erc20Existing.gas),
          },
        ],
        { xTicks: sizes, logY: false },
      ),
    );
  }
  const rel = results.relayer;
  if (rel) {
    const loads = [...new Set(rel.runs.map((r) => r.offered))].sort((a, b) => a - b);
    const line = (mode: Mode, pick: (r: RelayerRun) => number) =>
      rel.runs.filter((r) => r.mode === mode).map((r) => [r.offered, pick(r)] as [number, number]);
    panels.push(
      panel(
        panels.length * W,
        "Relayer latency vs offered load",
        "offered intents/s (log)",
        "ms (log)",
        [
          {
            label: "batched: accept p50",
            color: "#9467bd",
            dashed: true,
            points: line("batched", (r) => r.acceptP50Ms),
          },
          { label: "batched: accept p99", color: "#9467bd", points: line("batched", (r) => r.acceptP99Ms) },
          {
            label: "batched: confirmed p50",
            color: "#1f77b4",
            dashed: true,
            points: line("batched", (r) => r.confirmP50Ms),
          },
          { label: "batched: confirmed p99", color: "#1f77b4", points: line("batched", (r) => r.confirmP99Ms) },
          {
            label: `${INTENTS_PER_REQUEST} per request: accept p99`,
            color: "#2ca02c",
            points: line("multi", (r) => r.acceptP99Ms),
          },
          {
            label: `${INTENTS_PER_REQUEST} per request: confirmed p99`,
            color: "#17becf",
            points: line("multi", (r) => r.confirmP99Ms),
          },
          { label: "PostgreSQL server: accept p99", color: "#e377c2", points: line("pg", (r) => r.acceptP99Ms) },
          { label: "batch size 1: accept p99", color: "#8c564b", points: line("batch1", (r) => r.acceptP99Ms) },
          { label: "batch size 1: confirmed p99", color: "#d62728", points: line("batch1", (r) => r.confirmP99Ms) },
          { label: "target: accept p99 ≤ 50 ms", color: "#999", dashed: true, points: loads.map((x) => [x, 50]) },
          { label: "target: confirmed p99 ≤ 2 s", color: "#555", dashed: true, points: loads.map((x) => [x, 2_000]) },
        ],
        { xTicks: loads, logY: true },
      ),
    );
  }
  const width = Math.max(1, panels.length) * W;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${H}" fill="white"/>`,
    ...panels,
    "</svg>",
    "",
  ].join("\n");
}
