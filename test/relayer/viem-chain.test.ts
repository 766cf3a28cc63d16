import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import { pino } from "pino";
import {
  createPublicClient,
  encodeFunctionData,
  http,
  keccak256,
  type PublicClient,
  parseGwei,
  parseTransaction,
  recoverTransactionAddress,
  type TransactionSerializedEIP1559,
  toHex,
  zeroAddress,
  zeroHash,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type LocalChain as Anvil, freePort, startAnvil as startLocalChain } from "../../scripts/lib/anvil.js";
import { hashPayment, settlementHubAbi, signPayment } from "../../src/client/index.js";
import { ClientChannelsPort, ClientHubPort } from "../../src/relayer/chain/client-adapters.js";
import { CallRevertedError, NodeUnreachableError } from "../../src/relayer/chain/ports.js";
import { TxManager } from "../../src/relayer/chain/tx-manager.js";
import { createRelayerPublicClient, ViemChain } from "../../src/relayer/chain/viem-chain.js";
import { RelayerMetrics } from "../../src/relayer/metrics.js";
import { TimeSource } from "../../src/relayer/time.js";
import { fundPayers, type HubChain, startHubChain } from "./faults/harness.js";
import { ANVIL_KEYS } from "./helpers/anvil.js";
import { type TempStore, tempStore } from "./helpers/store.js";

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

  it("takes only a failure of the call itself for a revert, not an error of the node's own", async () => {
    // A JSON-RPC endpoint on 127.0.0.1 that answers every eth_estimateGas and eth_call with the
    // error set for the case.
    let answer = { code: -32603, message: "header not found" };
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        const parsed = JSON.parse(body) as { id: number } | { id: number }[];
        const reply = (call: { id: number }) => ({ jsonrpc: "2.0", id: call.id, error: answer });
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify(Array.isArray(parsed) ? parsed.map(reply) : reply(parsed)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const node = new ViemChain(createRelayerPublicClient(`http://127.0.0.1:${port}`, 31_337), ANVIL_KEYS[3]);
      const outcome = async (error: { code: number; message: string; data?: string }) => {
        answer = error;
        const estimate = await node.estimateGas({ to: chain.hub, data: withdraw() }).catch((e: unknown) => e);
        const call = await node.call({ to: chain.hub, data: withdraw(), gas: 100_000n }).catch((e: unknown) => e);
        return [estimate instanceof CallRevertedError, call instanceof CallRevertedError];
      };
      // The node's own trouble: the call is asked again later, never failed for good.
      expect(await outcome({ code: -32603, message: "header not found" })).to.deep.equal([false, false]);
      expect(await outcome({ code: -32000, message: "missing trie node 7a3b (path )" })).to.deep.equal([false, false]);
      expect(await outcome({ code: -32005, message: "daily request count exceeded" })).to.deep.equal([false, false]);
      // The call failed.
      expect(await outcome({ code: 3, message: "execution reverted", data: "0x08c379a0" })).to.deep.equal([true, true]);
      expect(await outcome({ code: -32000, message: "execution reverted" })).to.deep.equal([true, true]);
      expect(await outcome({ code: -32000, message: "gas required exceeds allowance (30000000)" })).to.deep.equal([
        true,
        true,
      ]);
      expect(await outcome({ code: -32000, message: "out of gas" })).to.deep.equal([true, true]);
      expect(await outcome({ code: -32000, message: "invalid opcode: INVALID" })).to.deep.equal([true, true]);
      expect(await outcome({ code: -32015, message: "VM execution error." })).to.deep.equal([true, true]);
    } finally {
      server.close();
    }
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
    // A broadcast without an answer says so (the node may have the transaction or not).
    const signed = await port.signTransaction({
      to: chain.hub,
      data: withdraw(),
      nonce: 0,
      gas: 100_000n,
      maxFeePerGas: parseGwei("2"),
      maxPriorityFeePerGas: parseGwei("1"),
    });
    expect(await port.sendRawTransaction(signed.raw).catch((e: unknown) => e)).to.be.instanceOf(NodeUnreachableError);
    // A node that answers with a refusal is not unreachable.
    const answering = new ViemChain(createRelayerPublicClient(chain.url, 31_337), ANVIL_KEYS[3]);
    const refused = await answering.sendRawTransaction("0x02c0").catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(Error);
    expect(refused).not.to.be.instanceOf(NodeUnreachableError);
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
    // The deployer asks to withdraw 10,000 (more than it holds: a request may), after the hub's delay.
    const requested = await chain.deployer.writeContract({
      address: chain.hub,
      abi: settlementHubAbi,
      functionName: "requestWithdrawal",
      args: [zeroAddress, 10_000n],
      account: chain.deployer.account ?? null,
      chain: chain.deployer.chain,
    });
    await chain.publicClient.waitForTransactionReceipt({ hash: requested });
    const { availableAt } = await chain.publicClient.readContract({
      address: chain.hub,
      abi: settlementHubAbi,
      functionName: "getWithdrawalRequest",
      args: [owner, zeroAddress],
    });
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
    expect(state).to.deep.equal({
      balances: [0n, 12_345n],
      withdrawals: [
        { amount: 10_000n, availableAt: BigInt(availableAt) },
        { amount: 0n, availableAt: 0n },
      ],
      noncesUsed: [true, false, true, false, true],
    });
    expect(availableAt).to.be.greaterThan(0);
    expect(calls).to.equal(1);
    expect(await port.readState({ balances: [], nonces: [] })).to.deep.equal({
      balances: [],
      withdrawals: [],
      noncesUsed: [],
    });
    // A hub address with no code answers nothing readable: the group fails, no value is made up.
    const noHub = new ClientHubPort(payer.address, client);
    const error = await noHub
      .readState({ balances: [{ account: owner, token: zeroAddress }], nonces: [] })
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
  });

  it("finds the PaymentSettled log of any of several digests, within the blocks asked", async () => {
    const port = new ClientHubPort(chain.hub, createRelayerPublicClient(chain.url, 31_337));
    const [payer] = await fundPayers(chain, 1, 5_000n);
    const domain = { chainId: 31_337, verifyingContract: chain.hub };
    const payment = {
      from: payer.address,
      to: privateKeyToAccount(keccak256(toHex("finds settlements: payee"))).address,
      token: zeroAddress,
      amount: 1_000n,
      fee: 0n,
      nonce: 0n,
      validAfter: 0n,
      validBefore: 2n ** 40n,
      ref: zeroHash,
    };
    const signature = await signPayment({ account: payer, domain, payment });
    const hash = await chain.deployer.writeContract({
      address: chain.hub,
      abi: settlementHubAbi,
      functionName: "settle",
      args: [payment, signature],
      account: chain.deployer.account ?? null,
      chain: chain.deployer.chain,
    });
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    const digest = hashPayment({ domain, payment });
    const other = keccak256(toHex("an intent never settled"));
    expect(await port.findSettlements([other, digest], receipt.blockNumber, receipt.blockNumber)).to.deep.equal([
      { digest, txHash: hash, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash },
    ]);
    expect(await port.findSettlements([digest], 0n, receipt.blockNumber - 1n)).to.deep.equal([]);
    expect(await port.findSettlements([other], 0n, receipt.blockNumber)).to.deep.equal([]);
  });
});

/** The transaction manager over a real node whose blocks hold less than EIP-7825's cap. */
describe("ClientChannelsPort", () => {
  it("reads the challenge period again after a failed read, instead of failing every read after it", async () => {
    let failures = 1;
    const channel = { status: 1, payer: zeroAddress, payee: zeroAddress, token: zeroAddress, signer: zeroAddress };
    // A client whose first challengePeriod read fails, as one network error would.
    const client = {
      readContract: async ({ functionName }: { functionName: string }) => {
        if (functionName !== "challengePeriod") {
          return { ...channel, deposit: 1n, claimed: 0n, closeRequestedAt: 100n };
        }
        if (failures-- > 0) throw new Error("fetch failed");
        return 3_600n;
      },
    } as unknown as PublicClient;
    const port = new ClientChannelsPort(zeroAddress, client);
    expect(await port.getChannel(zeroHash).catch((e: unknown) => (e as Error).message)).to.equal("fetch failed");
    expect((await port.getChannel(zeroHash))?.closesAt).to.equal(3_700n); // requested at 100, one hour to challenge
  });
});

describe("TxManager over ViemChain (anvil with 5,000,000-gas blocks)", () => {
  let anvil: Anvil;
  let temp: TempStore;
  before(async () => {
    anvil = await startLocalChain({ args: ["--quiet", "--gas-limit", "5000000"] });
    temp = await tempStore();
  });
  after(async () => {
    await temp.dispose();
    await anvil.stop();
  });

  it("reads the block gas limit and signs no transaction over what the next block can hold", async () => {
    const client = createRelayerPublicClient(anvil.url, 31_337);
    const chain = new ViemChain(client, ANVIL_KEYS[3]);
    expect(await chain.getBlockGasLimit()).to.equal(5_000_000n);
    const manager = new TxManager({
      chain,
      store: temp.store,
      metrics: new RelayerMetrics(),
      logger: pino({ level: "silent" }),
      time: new TimeSource(),
      maxFeePerGas: parseGwei("100"),
      feeBumpPercent: 25,
      stuckAfterMs: 60_000,
      confirmations: 1,
      reorgWindow: 16,
    });
    await manager.start();
    expect(manager.txGasCap).to.equal(5_000_000n - 5_000_000n / 1024n);
    const target = privateKeyToAccount(ANVIL_KEYS[2]).address;
    const { batchId } = await temp.store.createBatch({
      kind: "finalize",
      contract: target,
      sender: chain.sender,
      items: [],
    });
    // Asked for 30M (an estimate with a generous margin, say): the node would refuse that for good.
    const tx = await manager.submit({ batchId, kind: "finalize", to: target, data: "0x", gas: 30_000_000n });
    const receipt = await client.waitForTransactionReceipt({ hash: tx.attempts[0].hash });
    expect(receipt.status).to.equal("success");
    expect((await client.getTransaction({ hash: tx.attempts[0].hash })).gas).to.equal(4_995_118n);
  });
});
