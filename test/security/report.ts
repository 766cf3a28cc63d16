import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, it } from "node:test";

/**
 * Scenario rows for the auditors' report. Every security test is declared through {@link scenario},
 * which runs it as a node:test `it` and records its outcome: `PASS`, `FAIL` (the assertion failed
 * or the scenario threw), or `KNOWN ISSUE` (a test marked `todo` that demonstrates a reported
 * vulnerability and still fails). When `SECURITY_REPORT_DIR` is set (by `npm run test:security`),
 * the rows are written there as JSON after each suite; `scripts/security-suite.ts` turns them into
 * `reports/security.md`. Without it nothing is written, so `npm test` leaves no files behind.
 */
export type ScenarioStatus = "PASS" | "FAIL" | "KNOWN ISSUE" | "FIXED?";

export interface ScenarioRow {
  /** The report section: reentrancy, hostile tokens, signatures, overflow and boundaries, ... */
  area: string;
  /** The settlekit contract under attack (or a pair, for cross-contract paths). */
  contract: string;
  /** The scenario, as the test names it. */
  scenario: string;
  /** What the scenario asserts, in one line. */
  asserted: string;
  status: ScenarioStatus;
  /** The first line of the failure, for a failing scenario. */
  failure?: string;
  /** For a `todo` scenario: the reported issue it demonstrates. */
  note?: string;
}

const rows: ScenarioRow[] = [];

/** The contracts' names as the report prints them. */
export type ContractName = "Escrow" | "SettlementHub" | "PaymentChannels" | string;

export interface ScenarioOptions {
  /** Marks a scenario that demonstrates a reported, unfixed vulnerability: it may fail without failing the suite. */
  todo?: string;
}

/**
 * Declares one scenario: `it(name, fn)` plus a report row saying what it asserts and how it ended.
 * A failure is recorded, then rethrown so node:test reports it as well.
 */
export function scenario(
  area: string,
  contract: ContractName,
  name: string,
  asserted: string,
  fn: () => Promise<void>,
  options: ScenarioOptions = {},
): void {
  const testOptions = options.todo === undefined ? {} : { todo: options.todo };
  it(`[${contract}] ${name}`, testOptions, async () => {
    try {
      await fn();
      rows.push({
        area,
        contract,
        scenario: name,
        asserted,
        status: options.todo === undefined ? "PASS" : "FIXED?",
        ...(options.todo === undefined ? {} : { note: options.todo }),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      rows.push({
        area,
        contract,
        scenario: name,
        asserted,
        status: options.todo === undefined ? "FAIL" : "KNOWN ISSUE",
        failure: message.split("\n")[0],
        ...(options.todo === undefined ? {} : { note: options.todo }),
      });
      throw error;
    }
  });
}

/**
 * Writes the rows recorded so far to `$SECURITY_REPORT_DIR/scenarios-<pid>.json` after the
 * calling suite (call it once inside each top-level `describe`). Every call rewrites the file with
 * all rows of this process, so the last suite to finish leaves the complete list.
 */
export function writeScenarioRowsAfterSuite(): void {
  after(() => {
    const dir = process.env.SECURITY_REPORT_DIR;
    if (dir === undefined || dir === "") return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `scenarios-${process.pid}.json`), `${JSON.stringify(rows, null, 2)}\n`);
  });
}
