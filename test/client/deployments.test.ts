import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { expect } from "chai";
import { createPublicClient, http } from "viem";
import { sepolia } from "viem/chains";
import {
  createEscrowClient,
  createSettlementClient,
  loadDeployment,
  SettlekitDeploymentNotFoundError,
  SettlekitInvalidInputError,
} from "../../src/client/index.js";

describe("deployment records", () => {
  const directory = mkdtempSync(join(tmpdir(), "settlekit-deployments-"));
  after(() => rmSync(directory, { recursive: true, force: true }));
  const hub = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
  writeFileSync(
    join(directory, "11155111.json"),
    JSON.stringify({ chainId: 11155111, contracts: { SettlementHub: { address: hub } } }),
  );

  it("reads the record of a chain", () => {
    expect(loadDeployment(11155111, { directory })).to.deep.equal({
      chainId: 11155111,
      contracts: { SettlementHub: { address: hub } },
    });
  });

  it("throws a typed error naming the chain when it has no record", () => {
    const call = () => loadDeployment(424242, { directory });
    expect(call).to.throw(SettlekitDeploymentNotFoundError).with.property("chainId", 424242);
    expect(call).to.throw(/chain 424242/);
  });

  it("rejects a record for another chain or without valid addresses", () => {
    writeFileSync(join(directory, "5.json"), JSON.stringify({ chainId: 6, contracts: {} }));
    writeFileSync(
      join(directory, "7.json"),
      JSON.stringify({ chainId: 7, contracts: { Escrow: { address: "0x12" } } }),
    );
    writeFileSync(join(directory, "8.json"), "{ not json");
    for (const chainId of [5, 7, 8]) {
      expect(() => loadDeployment(chainId, { directory }))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "deployment record");
    }
  });

  it("gives factories their default address from the record of the client's chain", () => {
    const publicClient = createPublicClient({ chain: sepolia, transport: http("http://127.0.0.1:9") });
    const previous = process.env.SETTLEKIT_DEPLOYMENTS_DIR;
    process.env.SETTLEKIT_DEPLOYMENTS_DIR = directory;
    try {
      expect(createSettlementClient({ publicClient }).address).to.equal(hub);
    } finally {
      if (previous === undefined) delete process.env.SETTLEKIT_DEPLOYMENTS_DIR;
      else process.env.SETTLEKIT_DEPLOYMENTS_DIR = previous;
    }
  });

  it("takes an empty SETTLEKIT_DEPLOYMENTS_DIR or directory for unset: the package's records", () => {
    const previous = process.env.SETTLEKIT_DEPLOYMENTS_DIR;
    process.env.SETTLEKIT_DEPLOYMENTS_DIR = "";
    try {
      for (const options of [{}, { directory: "" }]) {
        expect(() => loadDeployment(424242, options))
          .to.throw(SettlekitDeploymentNotFoundError)
          .with.property("message")
          .that.matches(/\/deploy\/deployments\/424242\.json does not exist/);
      }
    } finally {
      if (previous === undefined) delete process.env.SETTLEKIT_DEPLOYMENTS_DIR;
      else process.env.SETTLEKIT_DEPLOYMENTS_DIR = previous;
    }
  });

  it("makes factories name the chain and contract when the record lacks it", () => {
    const publicClient = createPublicClient({ chain: sepolia, transport: http("http://127.0.0.1:9") });
    process.env.SETTLEKIT_DEPLOYMENTS_DIR = directory;
    try {
      expect(() => createEscrowClient({ publicClient }))
        .to.throw(SettlekitDeploymentNotFoundError)
        .that.includes({ chainId: 11155111, contractName: "Escrow" });
    } finally {
      delete process.env.SETTLEKIT_DEPLOYMENTS_DIR;
    }
  });
});
