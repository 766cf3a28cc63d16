/**
 * The coverage gate run by `npm run coverage` after `hardhat test --coverage`: fails below 98% of
 * lines or 95% of branches over the contracts in `contracts/`, excluding `contracts/test/` (mocks
 * and attackers).
 *
 * Lines come from `coverage/lcov.info` (LH/LF per file).
 *
 * Branches: lcov's BRDA/BRF/BRH records are used when present. Hardhat 3.18's coverage (EDR) does
 * not write them — it instruments statements only (see the TODO in Hardhat's coverage-manager) —
 * so the gate then measures branch coverage itself from the same run: it re-creates Hardhat's
 * statement instrumentation metadata for each contract (EDR's `addStatementCoverageInstrumentation`
 * is deterministic) and reads the execution counts Hardhat saved in `coverage/data/`. Every `if`
 * has two branches: taken when its body's first statement ran; not taken when its `else` body ran,
 * or, without an `else`, when the `if` ran more often than its body. Ternaries and short-circuit
 * operators are not counted (statement instrumentation cannot see them).
 *
 * Usage: `node scripts/coverage-gate.ts [--lines 98] [--branches 95]`.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { addStatementCoverageInstrumentation, latestSupportedSolidityVersion } from "@nomicfoundation/edr";

const root = path.resolve(import.meta.dirname, "..");
const require = createRequire(import.meta.url);

function threshold(flag: string, fallback: number): number {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}
const MIN_LINES = threshold("--lines", 98);
const MIN_BRANCHES = threshold("--branches", 95);

/** The files the gate covers. */
function gated(file: string): boolean {
  return file.startsWith("contracts/") && !file.startsWith("contracts/test/") && file.endsWith(".sol");
}

interface FileCoverage {
  linesHit: number;
  linesFound: number;
  branchesHit: number;
  branchesFound: number;
  missedBranches: string[];
}

function parseLcov(text: string): Map<string, { lh: number; lf: number; brh?: number; brf?: number }> {
  const files = new Map<string, { lh: number; lf: number; brh?: number; brf?: number }>();
  let current: { lh: number; lf: number; brh?: number; brf?: number } | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("SF:")) {
      current = { lh: 0, lf: 0 };
      files.set(line.slice(3).trim(), current);
    } else if (current !== undefined) {
      const [key, value] = line.split(":");
      if (key === "LH") current.lh = Number(value);
      if (key === "LF") current.lf = Number(value);
      if (key === "BRH") current.brh = Number(value);
      if (key === "BRF") current.brf = Number(value);
    }
  }
  return files;
}

/** Execution counts per statement tag, summed over every data file Hardhat saved. */
function executionCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".json")) {
        const data = JSON.parse(readFileSync(full, "utf8")) as Record<string, number>;
        for (const [tag, count] of Object.entries(data)) counts.set(tag, (counts.get(tag) ?? 0) + count);
      }
    }
  };
  walk(path.join(root, "coverage", "data"));
  return counts;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** The source with comments and string literals blanked out (same length, so offsets still match). */
function codeOnly(source: string): string {
  let out = "";
  let i = 0;
  while (i < source.length) {
    const two = source.slice(i, i + 2);
    if (two === "//") {
      while (i < source.length && source[i] !== "\n") {
        out += " ";
        i++;
      }
    } else if (two === "/*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (source[i] === '"' || source[i] === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== source[i] && source[j] !== "\n") j += source[j] === "\\" ? 2 : 1;
      const stop = Math.min(j + 1, source.length);
      out += " ".repeat(stop - i);
      i = stop;
    } else {
      out += source[i];
      i++;
    }
  }
  return out.slice(0, source.length);
}

/** The index just past the bracket matching the one at `open`. */
function matching(code: string, open: number): number {
  const pairs: Record<string, string> = { "(": ")", "{": "}" };
  const closeChar = pairs[code[open]];
  let level = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === code[open]) level++;
    else if (code[i] === closeChar && --level === 0) return i + 1;
  }
  return code.length;
}

/** If-branch coverage of one file from statement execution counts. */
function ifBranches(file: string, version: string, counts: Map<string, number>) {
  const source = readFileSync(path.join(root, file), "utf8");
  const code = codeOnly(source);
  const { metadata } = addStatementCoverageInstrumentation(source, `project/${file}`, version);
  const statements = metadata
    .map((m) => ({ start: m.startUtf16, end: m.endUtf16, count: counts.get(Buffer.from(m.tag).toString("hex")) ?? 0 }))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const firstAfter = (from: number, before: number) => statements.find((s) => s.start >= from && s.start < before);
  const lineOf = (offset: number) => source.slice(0, offset).split("\n").length;
  let hit = 0;
  let found = 0;
  const missed: string[] = [];
  for (const s of statements) {
    // A statement's range starts right after the previous token, leading whitespace included.
    const at = s.start + code.slice(s.start, s.end).search(/\S/);
    if (!/^if\s*\(/.test(code.slice(at, at + 8))) continue;
    const conditionEnd = matching(code, code.indexOf("(", at));
    const body = firstAfter(conditionEnd, s.end);
    if (body === undefined) continue;
    let bodyEnd = body.end;
    const opening = code.slice(conditionEnd).search(/\S/) + conditionEnd;
    if (code[opening] === "{") bodyEnd = matching(code, opening);
    const afterBody = code.slice(bodyEnd).search(/\S/) + bodyEnd;
    const hasElse = /^else\b/.test(code.slice(afterBody, afterBody + 5));
    const elseBody = hasElse ? firstAfter(afterBody + 4, s.end) : undefined;
    const taken = body.count;
    const notTaken = hasElse ? (elseBody?.count ?? 0) : s.count - body.count;
    found += 2;
    if (taken > 0) hit++;
    else missed.push(`line ${lineOf(at)}: condition never true`);
    if (notTaken > 0) hit++;
    else missed.push(`line ${lineOf(at)}: condition never false`);
  }
  return { hit, found, missed };
}

const lcovPath = path.join(root, "coverage", "lcov.info");
if (!existsSync(lcovPath)) {
  console.error("coverage gate: coverage/lcov.info is missing; run `hardhat test --coverage` first");
  process.exit(1);
}
const lcov = parseLcov(readFileSync(lcovPath, "utf8"));
const files = [...lcov.keys()].filter(gated).sort();
if (files.length === 0) {
  console.error("coverage gate: no contract in coverage/lcov.info; run `hardhat test --coverage` first");
  process.exit(1);
}
const lcovHasBranches = files.some((f) => lcov.get(f)?.brf !== undefined);
const solcVersion = (require("solc/package.json") as { version: string }).version;
const latest = latestSupportedSolidityVersion();
const instrumentationVersion = compareVersions(solcVersion, latest) > 0 ? latest : solcVersion;
const counts = lcovHasBranches ? new Map<string, number>() : executionCounts();

const coverage = new Map<string, FileCoverage>();
for (const file of files) {
  const entry = lcov.get(file) ?? { lh: 0, lf: 0 };
  const branches = lcovHasBranches
    ? { hit: entry.brh ?? 0, found: entry.brf ?? 0, missed: [] }
    : ifBranches(file, instrumentationVersion, counts);
  coverage.set(file, {
    linesHit: entry.lh,
    linesFound: entry.lf,
    branchesHit: branches.hit,
    branchesFound: branches.found,
    missedBranches: branches.missed,
  });
}

const pct = (hit: number, found: number) => (found === 0 ? 100 : (100 * hit) / found);
let linesHit = 0;
let linesFound = 0;
let branchesHit = 0;
let branchesFound = 0;
console.log(
  `\nCoverage gate (contracts/ without contracts/test/; branches from ${lcovHasBranches ? "lcov" : "if-statements, measured from EDR statement counts"})`,
);
console.log(`${"file".padEnd(48)} ${"lines".padStart(16)} ${"branches".padStart(16)}`);
for (const [file, c] of coverage) {
  linesHit += c.linesHit;
  linesFound += c.linesFound;
  branchesHit += c.branchesHit;
  branchesFound += c.branchesFound;
  const lines = `${pct(c.linesHit, c.linesFound).toFixed(2)}% ${c.linesHit}/${c.linesFound}`;
  const branches = `${pct(c.branchesHit, c.branchesFound).toFixed(2)}% ${c.branchesHit}/${c.branchesFound}`;
  console.log(`${file.padEnd(48)} ${lines.padStart(16)} ${branches.padStart(16)}`);
  for (const miss of c.missedBranches) console.log(`    missed branch, ${miss}`);
}
const totalLines = pct(linesHit, linesFound);
const totalBranches = pct(branchesHit, branchesFound);
console.log(
  `${"total".padEnd(48)} ${`${totalLines.toFixed(2)}% ${linesHit}/${linesFound}`.padStart(16)} ${`${totalBranches.toFixed(2)}% ${branchesHit}/${branchesFound}`.padStart(16)}`,
);
const failures: string[] = [];
if (branchesFound === 0) failures.push("no branch was measured (the measurement is broken)");
if (totalLines < MIN_LINES) failures.push(`lines ${totalLines.toFixed(2)}% < ${MIN_LINES}%`);
if (totalBranches < MIN_BRANCHES) failures.push(`branches ${totalBranches.toFixed(2)}% < ${MIN_BRANCHES}%`);
if (failures.length > 0) {
  console.error(`\ncoverage gate FAILED: ${failures.join(", ")}`);
  process.exit(1);
}
console.log(`\ncoverage gate passed (lines >= ${MIN_LINES}%, branches >= ${MIN_BRANCHES}%)`);
