// README example: imports
import { createSettlementClient } from "settlekit";
import { parseEther, zeroAddress, zeroHash } from "viem";
// README example: imports end

import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { expect } from "chai";
import { getAddress } from "viem";
import { connect, localWallet } from "./helpers.js";

/** The lines of this file between two marker comments, without their common indentation. */
function linesBetween(lines: string[], begin: string, end: string): string[] {
  const body = lines.slice(
    lines.findIndex((l) => l.trim() === begin) + 1,
    lines.findIndex((l) => l.trim() === end),
  );
  const indent = Math.min(...body.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return body.map((line) => line.slice(indent));
}

/** The README's client example: this file's marked imports, a blank line, and the marked body. */
function exampleSource(): string {
  const lines = readFileSync(new URL(import.meta.url), "utf8").split("\n");
  const imports = linesBetween(lines, "// README example: imports", "// README example: imports end");
  const body = linesBetween(lines, "// README example: begin", "// README example: end");
  return [...imports, "", ...body].join("\n");
}

describe("README client example", async () => {
  const { connection, publicClient, wallets } = await connect();
  const [owner, relayerWallet, merchantWallet] = wallets;
  const deployed = await connection.viem.deployContract("SettlementHub", [owner.account.address, 3_600n]);
  const hubAddress = getAddress(deployed.address);
  const merchant = getAddress(merchantWallet.account.address);
  const walletClient = await localWallet(
    connection,
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  );

  it("runs as written", async () => {
    // README example: begin
    // A payer deposits once into the hub, then pays with signed intents: no transaction each.
    const hub = createSettlementClient({ publicClient, walletClient, address: hubAddress });
    await hub.depositAndWait([zeroAddress, parseEther("1")], { value: parseEther("1") });
    const nonces = hub.createNonceManager(walletClient.account.address);
    const payment = {
      from: walletClient.account.address,
      to: merchant,
      token: zeroAddress,
      amount: parseEther("0.1"),
      fee: 0n,
      nonce: await nonces.next(),
      validAfter: 0n,
      validBefore: BigInt(Math.floor(Date.now() / 1000) + 3_600),
      ref: zeroHash,
    };
    const signature = await hub.signPayment(payment);

    // The merchant checks it off-chain at once; anyone (the relayer) settles it later.
    const relayer = createSettlementClient({ publicClient, walletClient: relayerWallet, address: hubAddress });
    if (await relayer.verifyPayment(payment, signature)) {
      const { event } = await relayer.settleAndWait([payment, signature]);
      console.log("settled", event.args.digest);
    }
    // README example: end

    expect(await hub.balanceOf([merchant, zeroAddress])).to.equal(parseEther("0.1"));
  });

  it("is the code the README shows", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Client library"));
    const block = section.slice(section.indexOf("```ts\n") + 6, section.indexOf("\n```", section.indexOf("```ts\n")));
    expect(block).to.equal(exampleSource());
  });
});
