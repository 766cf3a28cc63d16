// `npm run bench [-- --quick] [-- --only gas,offchain,relayer]`: gas per operation beside its
// baselines (in-process Hardhat network), off-chain signing throughput (one core), and relayer
// throughput and latency under open-loop load (local anvil), checked against issue 11's
// targets. Writes bench/results/latest.{json,md,svg}; progress goes to stderr.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { defaultRecoveryBackend } from "../src/client/index.js";
import { measureGas } from "./bench/gas.js";
import { measureRelayer } from "./bench/relayer.js";
import { type BenchResults, type Environment, evaluateTargets, markdown, svg } from "./bench/report.js";
import { measureSigning } from "./bench/signing.js";

const ROOT = resolve(import.meta.dirname, "..");
const SECTIONS = ["gas", "offchain", "relayer"] as const;
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string", default: join(ROOT, "bench", "results") },
  },
});
const quick = values.quick === true;
const only = new Set<Section>(
  values.only === undefined
    ? SECTIONS
    : values.only.split(",").map((s) => {
        if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section "${s}"`);
        return s as Section;
      }),
);
const settings = quick
  ? { signingSeconds: 0.6, loads: [200, 1_000], intents: 300, drainTimeoutMs: 30_000 }
  : { signingSeconds: 2, loads: [100, 500, 1_000, 2_000], intents: 2_000, drainTimeoutMs: 45_000 };

const t0 = performance.now();
const tty = process.stderr.isTTY === true;
let statusShown = false;
const clock = () => {
  const s = Math.floor((performance.now() - t0) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
/** A progress line; on a terminal, `status` lines overwrite each other until the next one. */
const progress = Object.assign(
  (message: string) => {
    if (statusShown) process.stderr.write("\r\x1b[K");
    statusShown = false;
    process.stderr.write(`[${clock()}] ${message}\n`);
  },
  {
    status: (message: string) => {
      if (!tty) return;
      process.stderr.write(`\r\x1b[K[${clock()}] ${message}`);
      statusShown = true;
    },
  },
);
const load = () => loadavg().map((x) => Math.round(x * 100) / 100) as [number, number, number];

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const loadStart = load();
  progress(
    `settlekit bench (${quick ? "quick" : "full"}): ${[...only].join(", ")}; load average ${loadStart.join(" / ")}`,
  );
  const results: Omit<BenchResults, "targets" | "environment"> = {};

  if (only.has("gas")) {
    const gas = await measureGas(progress);
    const mismatches: string[] = [];
    for (const row of [...gas.escrow, ...gas.hub, ...gas.channels]) {
      if (!row.snapshot) continue;
      const file = JSON.parse(readFileSync(join(ROOT, "gas", `${row.snapshot.file}.json`), "utf8")) as Record<
        string,
        { gas: number }
      >;
      const committed = file[row.snapshot.key]?.gas;
      if (committed !== row.gas)
        mismatches.push(`${row.label}: ${row.gas} here, ${committed ?? "absent"} in gas/${row.snapshot.file}.json`);
    }
    results.gas = { ...gas, snapshotMismatches: mismatches };
  }
  if (only.has("offchain")) {
    progress("off-chain: signing and verification throughput on one core");
    const rates = await measureSigning(settings.signingSeconds, (done, total, name) =>
      progress.status(`off-chain: ${done}/${total} ${name}`),
    );
    results.offchain = { backend: defaultRecoveryBackend(), seconds: settings.signingSeconds, rates };
  }
  const loadBeforeRelayer = load();
  if (only.has("relayer")) {
    results.relayer = await measureRelayer(progress, settings);
  }

  const environment: Environment = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    quick,
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown CPU",
    cpus: availableParallelism(),
    loadAverage: { start: loadStart, beforeRelayer: loadBeforeRelayer, end: load() },
    durationSeconds: Math.round((performance.now() - t0) / 1000),
  };
  const full: BenchResults = { environment, targets: evaluateTargets(results), ...results };
  mkdirSync(values.out as string, { recursive: true });
  const out = (name: string) => join(values.out as string, name);
  writeFileSync(out("latest.json"), `${JSON.stringify(full, null, 2)}\n`);
  writeFileSync(out("latest.md"), markdown(full));
  writeFileSync(out("latest.svg"), svg(full));
  progress(`wrote ${["latest.json", "latest.md", "latest.svg"].map(out).join(", ")}`);
  for (const t of full.targets)
    progress(`  ${t.met ? "met   " : "MISSED"} ${t.figure}: ${t.measured} (target ${t.target})`);
}

await main();
