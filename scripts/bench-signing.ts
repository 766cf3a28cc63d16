// Off-chain signing throughput on one core, printed as a table (the measurement lives in
// scripts/bench/signing.ts; `npm run bench` reports the same figures against the targets).
//
// Usage: npm run bench:signing   (BENCH_SECONDS=2 per measurement by default, median of 3)
import { availableParallelism } from "node:os";
import { defaultRecoveryBackend } from "../src/client/index.js";
import { measureSigning } from "./bench/signing.js";

const seconds = Number(process.env.BENCH_SECONDS ?? "2");
const rows = await measureSigning(seconds);
console.log(
  `settlekit signing throughput: one core (main thread), Node ${process.version}, ${availableParallelism()} CPUs, ` +
    `default recovery backend "${defaultRecoveryBackend()}", per CPU-second, median of 3 × ${(seconds / 3).toFixed(2)} s`,
);
const width = Math.max(...rows.map(({ name }) => name.length));
for (const { name, perSecond } of rows) {
  console.log(`  ${name.padEnd(width)}  ${Math.round(perSecond).toLocaleString("en-US").padStart(9)} /s`);
}
