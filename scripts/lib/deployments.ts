import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Deployment } from "../../src/client/index.js";

/** What `npm run deploy` records: the client's {@link Deployment} with every contract, plus the network name. */
export interface DeploymentRecord extends Deployment {
  network: string;
  contracts: Required<Deployment["contracts"]>;
}

/** Folder of the records; `SETTLEKIT_DEPLOYMENTS_DIR` moves it (tests use a temporary one), as in `loadDeployment`. */
export function deploymentsDir(): string {
  return (
    process.env.SETTLEKIT_DEPLOYMENTS_DIR || path.resolve(import.meta.dirname, "..", "..", "deploy", "deployments")
  );
}

export function deploymentRecordPath(chainId: number): string {
  return path.join(deploymentsDir(), `${chainId}.json`);
}

export function writeDeploymentRecord(record: DeploymentRecord): void {
  mkdirSync(deploymentsDir(), { recursive: true });
  writeFileSync(deploymentRecordPath(record.chainId), `${JSON.stringify(record, null, 2)}\n`);
}
