import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import {
  createPublicClient,
  encodeFunctionData,
  http,
  keccak256,
  type PublicClient,
  parseTransaction,
  recoverTransactionAddress,
  type TransactionSerializedEIP1559,
  toHex,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { freePort } from "../../scripts/lib/anvil.js";
import { settlementHubAbi } from "../../src/client/index.js";
import { ClientHubPort } from "../../src/relayer/chain/client-adapters.js";
import { CallRevertedError } from "../../src/relayer/chain/ports.js";
import { createRelayerPublicClient, ViemChain } from "../../src/relayer/chain/viem-chain.js";
import { fundPayers, type HubChain, startHubChain } from "./faults/harness.js";
import { ANVIL_KEYS } from "./helpers/anvil.js";

/** The relayer's chain port over a real node: what counts as a revert (and what does not). */
describe("ViemChain (anvil)", () => {
  let chain: HubChain;
  before(async () => {
    chain = await startHubChain();
  });
  after(async () => {
    await chain.stop();
  });

  const withdraw = () =>
    encodeFunctionData({ abi: settlementHubAbi, functionName: "withdraw", args: [zeroAddress, zeroAddress] });

  it("reports a call the contract reverts as CallRevertedError", async () => {
    const port = new ViemChain(createRelayerPublicClient(chain.url, 31_337), ANVIL_KEYS[3]);
    const error = await port.estimateGas({ to: chain.hub, data: withdraw() }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(CallRevertedError);
  });

  it("runs a call with the gas it is given: enough passes, too little or a revert is CallRevertedError", async () => {
    const port = new ViemChain(createRelayerPublicClient(chain.url, 31_337), ANVIL_KEYS[3]);
    const invalidate = encodeFunctionData({ abi: settlementHubAbi, functionName: "invalidateNonces", args: [0n, 1n] });
    await port.call({ to: chain.hub, data: invalidate, gas: 200_000n });
    const outOfGas = await port.call({ to: chain.hub, data: invalidate, gas: 30_000n }).catch((e: unknown) => e);
    expect(outOfGas).to.be.instanceOf(CallRevertedError);
    const reverted = await port.call({ to: chain.hub, data: withdraw(), gas: 200_000n }).catch((e: unknown) => e);
    expect(reverted).to.be.instanceOf(CallRevertedError);
  });

  it("does not take a node it cannot reach for a revert", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const port = new ViemChain(createRelayerPublicClient(closed, 31_337), ANVIL_KEYS[3]);
    const error = await port.estimateGas({ to: chain.hub, data: withdraw() }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
    expect(error).not.to.be.instanceOf(CallRevertedError);
    const callError = await port.call({ to: chain.hub, data: withdraw(), gas: 200_000n }).catch((e: unknown) => e);
    expect(callError).to.be.instanceOf(Error);
    expect(callError).not.to.be.instanceOf(CallRevertedError);
  });

  it("signs the same transaction bytes as viem, recoverable to the relayer key, with its hash", async () => {
    const port = new ViemChain(createRelayerPublicClient(chain.url, 31_337), ANVIL_KEYS[3]);
    const account = privateKeyToAccount(ANVIL_KEYS[3]);
    // A settle batch's calldata runs to tens of kilobytes: cover several Keccak blocks and an empty one.
    for (const data of ["0x", withdraw(), toHex(new Uint8Array(80_001).map((_, i) => (i * 31) & 255))] as const) {
      const tx = {
        to: chain.hub,
        data,
        nonce: 7,
        gas: 3_000_000n,
        maxFeePerGas: 2_000_000_000n,
        maxPriorityFeePerGas: 1_000_000n,
      };
      const signed = await port.signTransaction(tx);
      const expected = await account.signTransaction({ ...tx, chainId: 31_337, type: "eip1559", value: 0n });
      expect(signed.raw).to.equal(expected);
      expect(signed.hash).to.equal(keccak256(expected));
      expect(signed.raw.startsWith("0x02")).to.equal(true);
      const serializedTransaction = signed.raw as TransactionSerializedEIP1559;
      expect(await recoverTransactionAddress({ serializedTransaction })).to.equal(account.address);
      expect(parseTransaction(signed.raw)).to.include({ to: chain.hub, nonce: 7, chainId: 31_337 });
    }
  });

  it("reads a group of hub balances and nonces in one call, each answer in its place", async () => {
    const client = createRelayerPublicClient(chain.url, 31_337);
    const port = new ClientHubPort(chain.hub, client);
    const [payer] = await fundPayers(chain, 1, 12_345n);
    const owner = chain.deployer.account?.address as `0x${string}`;
    // Nonces 0 and 2 of word 0 and nonce 257 (word 1, bit 1) of the deployer become used.
    for (const [word, mask] of [
      [0n, 0b101n],
      [1n, 0b10n],
    ] as const) {
      const hash = await chain.deployer.writeContract({
        address: chain.hub,
        abi: settlementHubAbi,
        functionName: "invalidateNonces",
        args: [word, mask],
        account: chain.deployer.account ?? null,
        chain: chain.deployer.chain,
      });
      await chain.publicClient.waitForTransactionReceipt({ hash });
    }
    let calls = 0;
    const counting = createPublicClient({
      transport: http(chain.url, {
        onFetchRequest: (_request, init) => {
          calls += (String(init.body).match(/"eth_call"/g) ?? []).length;
        },
      }),
    }) as PublicClient;
    const state = await new ClientHubPort(chain.hub, counting).readState({
      balances: [
        { account: owner, token: zeroAddress },
        { account: payer.address, token: zeroAddress },
      ],
      nonces: [0n, 1n, 2n, 256n, 257n].map((nonce) => ({ owner, nonce })),
    });
    expect(state).to.deep.equal({ balances: [0n, 12_345n], noncesUsed: [true, false, true, false, true] });
    expect(calls).to.equal(1);
    expect(await port.readState({ balances: [], nonces: [] })).to.deep.equal({ balances: [], noncesUsed: [] });
    // A hub address with no code answers nothing readable: the group fails, no value is made up.
    const noHub = new ClientHubPort(payer.address, client);
    const error = await noHub
      .readState({ balances: [{ account: owner, token: zeroAddress }], nonces: [] })
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
  });
});
