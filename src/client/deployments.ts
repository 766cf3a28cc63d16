import type { Address } from "viem";
import { SettlekitDeploymentNotFoundError, SettlekitInvalidInputError } from "./errors.js";

/**
 * The contracts a deployment record lists.
 *
 * @example
 * ```ts
 * import { loadDeployment, type SettlekitContractName } from "settlekit";
 *
 * const name: SettlekitContractName = "SettlementHub";
 * const hub = loadDeployment(chainId).contracts[name]?.address;
 * ```
 */
export type SettlekitContractName = "Escrow" | "SettlementHub" | "PaymentChannels";

/**
 * A deployment record, `deploy/deployments/<chainId>.json`, written by the deploy tooling.
 *
 * @example
 * ```ts
 * import type { Deployment } from "settlekit";
 *
 * const record: Deployment = {
 *   chainId: 31337,
 *   contracts: { SettlementHub: { address: "0x5FbDB2315678afecb367f032d93F642f64180aa3" } },
 * };
 * ```
 */
export interface Deployment {
  chainId: number;
  contracts: Partial<Record<SettlekitContractName, { address: Address }>>;
}

/**
 * Options of {@link loadDeployment}.
 *
 * @example
 * ```ts
 * import { loadDeployment, type LoadDeploymentOptions } from "settlekit";
 *
 * const options: LoadDeploymentOptions = { directory: "./deployments" };
 * const record = loadDeployment(11155111, options);
 * ```
 */
export interface LoadDeploymentOptions {
  /**
   * Folder holding `<chainId>.json`; default `$SETTLEKIT_DEPLOYMENTS_DIR` when set, else the
   * package's `deploy/deployments`.
   */
  directory?: string | URL;
}
/**
 * Return type of {@link loadDeployment}.
 *
 * @example
 * ```ts
 * import { loadDeployment, type LoadDeploymentReturnType } from "settlekit";
 *
 * const record: LoadDeploymentReturnType = loadDeployment(11155111);
 * ```
 */
export type LoadDeploymentReturnType = Deployment;

type NodeFs = typeof import("node:fs");
type NodeProcess = { getBuiltinModule?: (id: string) => unknown; env?: Record<string, string | undefined> };

const nodeProcess = (): NodeProcess | undefined => (globalThis as { process?: NodeProcess }).process;

/**
 * Node's `fs`, reached through `process.getBuiltinModule` rather than an import so that browser
 * bundles of the client never pull in a Node module; undefined outside Node.
 */
function nodeFs(): NodeFs | undefined {
  return nodeProcess()?.getBuiltinModule?.("node:fs") as NodeFs | undefined;
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * The package's root: this module runs from `src/client/` (sources, in this repository) or from
 * `dist/src/client/` (the build that `import … from "settlekit"` loads).
 */
const PACKAGE_ROOT = new URL(
  /\/dist\/src\/client\/[^/]*$/.test(import.meta.url) ? "../../../" : "../../",
  import.meta.url,
);

/**
 * Reads the deployment record of `chainId` (Node only; in browsers pass addresses explicitly)
 * from `deploy/deployments/<chainId>.json`, or from `$SETTLEKIT_DEPLOYMENTS_DIR` when set.
 * The factories call it when they are given no `address`.
 *
 * @throws {SettlekitDeploymentNotFoundError} when there is no record for the chain (or no
 * file system), naming the chain.
 * @throws {SettlekitInvalidInputError} when the record is malformed.
 * @example
 * ```ts
 * import { loadDeployment } from "settlekit";
 *
 * const hub = loadDeployment(11155111).contracts.SettlementHub?.address;
 * ```
 */
export function loadDeployment(chainId: number, options: LoadDeploymentOptions = {}): LoadDeploymentReturnType {
  if (!Number.isSafeInteger(chainId) || chainId <= 0) {
    throw new SettlekitInvalidInputError("chainId", "expected a positive safe integer");
  }
  const fs = nodeFs();
  if (!fs) throw new SettlekitDeploymentNotFoundError({ chainId, detail: "records can only be read in Node" });
  const directory =
    options.directory || nodeProcess()?.env?.SETTLEKIT_DEPLOYMENTS_DIR || new URL("deploy/deployments/", PACKAGE_ROOT);
  const file =
    directory instanceof URL
      ? new URL(`${chainId}.json`, directory.href.endsWith("/") ? directory : `${directory.href}/`)
      : `${directory.replace(/[\\/]$/, "")}/${chainId}.json`;
  if (!fs.existsSync(file)) {
    throw new SettlekitDeploymentNotFoundError({
      chainId,
      detail: `${file instanceof URL ? file.pathname : file} does not exist`,
    });
  }
  let record: unknown;
  try {
    record = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (cause) {
    throw new SettlekitInvalidInputError("deployment record", `chain ${chainId}: not JSON (${String(cause)})`);
  }
  const parsed = record as Partial<Deployment> | null;
  if (typeof parsed !== "object" || parsed === null || parsed.chainId !== chainId) {
    throw new SettlekitInvalidInputError("deployment record", `chain ${chainId}: expected "chainId": ${chainId}`);
  }
  if (typeof parsed.contracts !== "object" || parsed.contracts === null) {
    throw new SettlekitInvalidInputError("deployment record", `chain ${chainId}: expected a "contracts" object`);
  }
  for (const [name, entry] of Object.entries(parsed.contracts)) {
    if (!ADDRESS.test(String((entry as { address?: unknown } | null)?.address))) {
      throw new SettlekitInvalidInputError("deployment record", `chain ${chainId}: ${name} has no valid "address"`);
    }
  }
  return parsed as Deployment;
}

/** @internal The recorded address of `contractName` on `chainId`, or a typed error naming both. */
export function deployedAddress(contractName: SettlekitContractName, chainId: number | undefined): Address {
  if (chainId === undefined) {
    throw new SettlekitDeploymentNotFoundError({
      chainId,
      contractName,
      detail: "the public client has no `chain`, so its chain id is unknown",
    });
  }
  const entry = loadDeployment(chainId).contracts[contractName];
  if (!entry) throw new SettlekitDeploymentNotFoundError({ chainId, contractName, detail: "the record lacks it" });
  return entry.address;
}
