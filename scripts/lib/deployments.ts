import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Address } from "viem";

/** The deployment record of one chain: `deploy/deployments/<chainId>.json`. */
export interface DeploymentRecord {
  chainId: number;
  network: string;
  contracts: {
    Escrow: { address: Address };
    SettlementHub: { address: Address };
    PaymentChannels: { address: Address };
  };
}

/** Folder of the records; `SETTLEKIT_DEPLOYMENTS_DIR` moves it (tests use a temporary one). */
export function deploymentsDir(): string {
  return (
    process.env.SETTLEKIT_DEPLOYMENTS_DIR ?? path.resolve(import.meta.dirname, "..", "..", "deploy", "deployments")
  );
}

export function deploymentRecordPath(chainId: number): string {
  return path.join(deploymentsDir(), `${chainId}.json`);
}

export function writeDeploymentRecord(record: DeploymentRecord): void {
  mkdirSync(deploymentsDir(), { recursive: true });
  writeFileSync(deploymentRecordPath(record.chainId), `${JSON.stringify(record, null, 2)}\n`);
}
