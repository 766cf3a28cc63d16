// Completes `npm install` on machines whose system Node is older than 22.
//
// Hardhat 3 needs Node >= 22.13. The `node` devDependency ships a Node 22 binary into
// node_modules/.bin, and npm scripts put that folder first on PATH, so every project script
// runs under Node 22. But an install run by an older Node skips EDR's platform package
// (its `engines` asks for Node >= 22), and Hardhat then fails with HHE27. When that happened,
// this runs the install once more under the bundled Node 22, which adds the missing package.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "node_modules", ".bin");
const bundledNode = join(bin, process.platform === "win32" ? "node.exe" : "node");

function edrLoads() {
  const probe = spawnSync(bundledNode, ["-e", "require('@nomicfoundation/edr')"], {
    cwd: root,
    stdio: "ignore",
  });
  return probe.status === 0;
}

if (process.env.SETTLEKIT_POSTINSTALL_RERUN === "1") process.exit(0);
if (!existsSync(bundledNode)) {
  console.error("settlekit: the bundled Node 22 (npm package `node`) is missing; run `npm install` again.");
  process.exit(1);
}
if (edrLoads()) process.exit(0);

console.log("settlekit: installing Hardhat's platform package under the bundled Node 22 ...");
const npmCli = process.env.npm_execpath;
const [command, args] = npmCli
  ? [bundledNode, [npmCli, "install", "--no-audit", "--no-fund"]]
  : ["npm", ["install", "--no-audit", "--no-fund"]];
const rerun = spawnSync(command, args, {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    PATH: `${bin}${delimiter}${process.env.PATH ?? ""}`,
    SETTLEKIT_POSTINSTALL_RERUN: "1",
  },
});
if (rerun.status !== 0 || !edrLoads()) {
  console.error("settlekit: Hardhat's platform package (@nomicfoundation/edr-*) is still missing.");
  process.exit(1);
}
console.log("settlekit: install complete (Hardhat runs under the bundled Node 22).");
