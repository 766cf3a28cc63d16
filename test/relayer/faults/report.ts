import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { expect } from "chai";
import { FAULT_SUITE, REPORT_DIR, reportedRows, scenarioCount } from "./harness.js";

/**
 * The last file of `npm run test:faults` (the runner shares one process across files): prints
 * every scenario's counts and writes them to `reports/faults.md`.
 */
describe("fault suite report", FAULT_SUITE, () => {
  it("reports every scenario, none with an intent lost or settled twice", () => {
    const rows = reportedRows();
    const scenarios = scenarioCount();
    const lines = [
      "# settlekit relayer: fault suite report",
      "",
      `${new Date().toISOString()}, ${rows.length} of ${scenarios} scenarios reported (a missing one failed before its audit).`,
      "",
      "| scenario | accepted | settled | failed | lost | duplicated | notes |",
      "|---|---:|---:|---:|---:|---:|---|",
      ...rows.map(
        (r) =>
          `| ${r.scenario} | ${r.accepted} | ${r.settled} | ${r.failed} | ${r.lost} | ${r.duplicated} | ${r.notes.replaceAll("|", "/")} |`,
      ),
      "",
    ];
    mkdirSync(REPORT_DIR, { recursive: true });
    writeFileSync(join(REPORT_DIR, "faults.md"), lines.join("\n"));
    console.log(`\n${lines.map((l) => `    ${l}`).join("\n")}`);

    expect(rows).to.have.length(scenarios);
    for (const row of rows) {
      expect(row.lost, row.scenario).to.equal(0);
      expect(row.duplicated, row.scenario).to.equal(0);
    }
  });
});
