import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { expect } from "chai";

/**
 * Committed gas snapshots (`gas/<name>.json`): named, full-transaction gas figures taken from
 * receipts on the in-process network, which is deterministic. A test compares what it measured
 * with the committed file and fails on any drift, so a contract change that moves gas shows up
 * in review. `UPDATE_GAS=1 npm run test:ts` rewrites the files after an intended change.
 *
 * Targets from the issues are reported beside each figure (`target`, `meetsTarget`), never
 * asserted: a missed target is a measured fact to report, not a failing test.
 */
export interface GasEntry {
  gas: bigint | number;
  target?: number;
  note?: string;
}

export function checkGasSnapshot(name: string, entries: Record<string, GasEntry>): void {
  // `hardhat test --coverage` instruments the contracts, so gas measured under it is not comparable.
  if (process.env.HARDHAT_COVERAGE === "true") return;
  const file = resolve(import.meta.dirname, "..", "..", "gas", `${name}.json`);
  const measured: Record<string, { gas: number; target?: number; meetsTarget?: boolean; note?: string }> = {};
  for (const [key, entry] of Object.entries(entries)) {
    const gas = Number(entry.gas);
    measured[key] = {
      gas,
      ...(entry.target === undefined ? {} : { target: entry.target, meetsTarget: gas <= entry.target }),
      ...(entry.note === undefined ? {} : { note: entry.note }),
    };
  }
  const text = `${JSON.stringify(measured, null, 2)}\n`;
  if (process.env.UPDATE_GAS === "1") {
    writeFileSync(file, text);
    return;
  }
  let committed: unknown;
  try {
    committed = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    expect.fail(`gas/${name}.json is missing: run UPDATE_GAS=1 npm run test:ts and commit it`);
  }
  expect(measured, `gas/${name}.json is stale: run UPDATE_GAS=1 npm run test:ts and review the diff`).to.deep.equal(
    committed,
  );
}
