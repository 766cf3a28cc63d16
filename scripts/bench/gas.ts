// Gas of settlekit's operations beside what a user would pay instead, measured in one run on the
// in-process Hardhat network: full-transaction `gasUsed` from receipts, in warm state (never the
// first use of a token, a payer's nonce word or a recipient's balance). The setups follow the
// gas tests (test/*/gas.test.ts: same accounts, clock, amounts and order), so the figures both
// measure agree with the committed snapshots in gas/*.json; this module adds what the snapshots
// leave out: ERC-20 and native transfer baselines, settleBatch at 400, and marginal gas per
// payment at every batch size.
import { network } from "hardhat";
import {
  type Address,
  type Hex,
  keccak256,
  type LocalAccount,
  maxUint128,
  parseEther,
  stringToHex,
  zeroAddress,
} from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { type Payment, signPayment, signRelease, signVoucher } from "../../src/client/index.js";

/** EIP-7825: the most gas one transaction may use from the Osaka hardfork on. */
export const TX_GAS_CAP = 16_777_216;

export type Baseline = "erc20Existing" | "erc20New" | "native";

export interface GasRow {
  /** Stable key (used in latest.json and for the snapshot cross-check). */
  key: string;
  label: string;
  gas: number;
  /** What the user would pay instead, compared per row. */
  baseline?: Baseline;
  target?: number;
  note?: string;
  /** The same figure in the committed snapshot (`gas/<file>.json` → key), when it has one. */
  snapshot?: { file: string; key: string };
}

export interface BatchPoint {
  size: number;
  gas: number;
  /** gas / size */
  perPayment: number;
  /** (gas - gas of the batch of 1) / (size - 1); undefined at size 1. */
  marginal?: number;
}

export interface GasResults {
  baselines: Record<Baseline, { label: string; gas: number }>;
  escrow: GasRow[];
  hub: GasRow[];
  channels: GasRow[];
  batches: { distinct: BatchPoint[]; merchant: BatchPoint[] };
}

type Progress = (message: string) => void;
type Connection = Awaited<ReturnType<typeof network.create>>;

function receiptGas(connection: Connection) {
  return async (hash: Hex | Promise<Hex>): Promise<number> => {
    const publicClient = await connection.viem.getPublicClient();
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return Number(receipt.gasUsed);
  };
}

/** A fixed clock, so that deadlines, calldata and signatures (and so gas) repeat exactly. */
const START = 2_000_000_000n;
const DAY = 86_400n;

/** Deterministic local keys, derived as test/settlement/helpers.ts derives them. */
function testAccount(name: string): LocalAccount {
  return privateKeyToAccount(keccak256(stringToHex(`settlekit test ${name}`)));
}

async function measureEscrow(progress: Progress): Promise<GasRow[]> {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const gasOf = receiptGas(connection);
  const publicClient = await viem.getPublicClient();
  const [owner, feeRecipient, payer, payee, arbiter, relayer, ...others] = await viem.getWalletClients();
  const chainId = await publicClient.getChainId();
  const amount = parseEther("100");
  const ref = keccak256(stringToHex("invoice-42"));

  await networkHelpers.time.increaseTo(START);
  const escrow = await viem.deployContract("Escrow", [
    owner.account.address,
    feeRecipient.account.address,
    50,
    7n * DAY,
  ]);
  const token = await viem.deployContract("TestToken", ["Test", "TST", 18]);
  const payers = [payer, ...others.slice(0, 10)];
  for (const p of payers) {
    await token.write.mint([p.account.address, amount * 100n]);
    await token.write.approve([escrow.address, maxUint128], { account: p.account });
  }
  await token.write.mint([payee.account.address, 1n]);
  const now = BigInt(await networkHelpers.time.latest());
  const base = {
    payee: payee.account.address,
    arbiter: zeroAddress,
    token: token.address,
    amount,
    deadline: now + 30n * DAY,
    onExpiry: 0,
    ref,
  };
  const asPayer = { account: payer.account };
  progress("escrow: create, release, releaseWithSig, refund");

  // Warm-up: the contract's first escrow of the token, and a first fee accrual.
  await escrow.write.create([base], asPayer);
  await escrow.write.release([1n, amount], asPayer);

  const createErc20 = await gasOf(escrow.write.create([base], asPayer)); // id 2
  const createNative = await gasOf(
    escrow.write.create([{ ...base, token: zeroAddress }], { ...asPayer, value: amount }),
  ); // id 3
  await escrow.write.create([{ ...base, arbiter: arbiter.account.address }], asPayer); // id 4, as in the test
  const release = await gasOf(escrow.write.release([2n, amount], asPayer));
  await escrow.write.create([base], asPayer); // id 5
  await escrow.write.release([5n, amount / 4n], asPayer);
  const deadline = now + 60n * DAY;
  const signature = await signRelease({
    account: payer.account.address,
    walletClient: payer,
    domain: { chainId, verifyingContract: escrow.address },
    release: { id: 5n, releasedTotal: amount, deadline },
  });
  const releaseWithSig = await gasOf(
    escrow.write.releaseWithSig([5n, amount, deadline, signature], { account: relayer.account }),
  );
  await escrow.write.create([base], asPayer); // id 6
  const refund = await gasOf(escrow.write.refund([6n, amount], { account: payee.account }));

  progress("escrow: settleExpired, settleExpiredBatch of 1 and 11");
  const expiring = await escrow.simulate.create([base], { account: payer.account.address });
  await escrow.write.create([base], asPayer);
  const batchOf = async (count: number) => {
    const ids: bigint[] = [];
    for (const p of payers.slice(0, count)) {
      const { result } = await escrow.simulate.create([base], { account: p.account.address });
      await escrow.write.create([base], { account: p.account });
      ids.push(result);
    }
    return ids;
  };
  const single = await batchOf(1);
  const eleven = await batchOf(11);
  await networkHelpers.time.increase(31n * DAY);
  const settleExpired = await gasOf(escrow.write.settleExpired([expiring.result], { account: relayer.account }));
  const batch1 = await gasOf(escrow.write.settleExpiredBatch([single], { account: relayer.account }));
  const batch11 = await gasOf(escrow.write.settleExpiredBatch([eleven], { account: relayer.account }));
  if ((await escrow.read.remaining([eleven[10] as bigint])) !== 0n) throw new Error("the batch did not settle");

  const snapshot = (key: string) => ({ file: "Escrow", key });
  return [
    {
      key: "escrow.createErc20",
      label: "create (ERC-20)",
      gas: createErc20,
      baseline: "erc20Existing",
      target: 140_000,
      note: "no arbiter",
      snapshot: snapshot("createErc20"),
    },
    {
      key: "escrow.createNative",
      label: "create (native)",
      gas: createNative,
      baseline: "native",
      note: "no arbiter",
      snapshot: snapshot("createNative"),
    },
    {
      key: "escrow.release",
      label: "release",
      gas: release,
      baseline: "erc20Existing",
      target: 55_000,
      note: "whole amount, fee 0.5%",
      snapshot: snapshot("release"),
    },
    {
      key: "escrow.releaseWithSig",
      label: "releaseWithSig",
      gas: releaseWithSig,
      baseline: "erc20Existing",
      target: 60_000,
      note: "payer's EOA signature, relayer submits, fee 0.5%",
      snapshot: snapshot("releaseWithSig"),
    },
    {
      key: "escrow.refund",
      label: "refund",
      gas: refund,
      baseline: "erc20Existing",
      note: "whole amount, by the payee",
      snapshot: snapshot("refund"),
    },
    {
      key: "escrow.settleExpired",
      label: "settleExpired",
      gas: settleExpired,
      baseline: "erc20Existing",
      note: "refund to the payer",
      snapshot: snapshot("settleExpired"),
    },
    {
      key: "escrow.settleExpiredBatchMarginal",
      label: "settleExpiredBatch, marginal per escrow",
      gas: Math.floor((batch11 - batch1) / 10),
      baseline: "erc20Existing",
      note: "(batch of 11 - batch of 1) / 10, distinct payers refunded",
      snapshot: snapshot("settleExpiredBatchMarginal"),
    },
  ];
}

const UNIT = 1_000_000n; // one token of a 6-decimal (USDC-like) ERC-20

async function measureHub(
  progress: Progress,
  sizes: readonly number[],
): Promise<{
  rows: GasRow[];
  batches: GasResults["batches"];
  baselines: GasResults["baselines"];
}> {
  const connection = await network.create();
  const { viem, networkHelpers } = connection;
  const gasOf = receiptGas(connection);
  const [funder, relayer, owner] = await viem.getWalletClients();
  const payerCount = Math.max(...sizes);
  const payers = Array.from({ length: payerCount }, (_, i) => testAccount(`payer ${i}`));
  const payees = Array.from({ length: payerCount }, (_, i) => testAccount(`payee ${i}`).address);
  const merchant = testAccount("merchant").address;
  const validBefore = START + DAY;

  async function deployWarmHub() {
    await networkHelpers.time.increaseTo(START);
    const token = await viem.deployContract("TestToken", ["USD Coin", "USDC", 6]);
    const hub = await viem.deployContract("SettlementHub", [owner.account.address, 3600n]);
    await token.write.mint([funder.account.address, 1_000_000n * UNIT]);
    await token.write.approve([hub.address, 1_000_000n * UNIT]);
    for (const payer of payers) await hub.write.depositFor([payer.address, token.address, 1_000n * UNIT]);
    await hub.write.depositFor([merchant, token.address, UNIT]);
    await hub.write.deposit([token.address, 1_000n * UNIT]);
    await hub.write.deposit([zeroAddress, parseEther("1")], { value: parseEther("1") });
    const domain = { chainId: await (await viem.getPublicClient()).getChainId(), verifyingContract: hub.address };
    // Warm-up: every payer uses nonce 0 paying its payee, so payers' nonce words and the payees'
    // and relayer's balances are all in use before anything is measured.
    const warmUp = payers.map((payer, i) => ({
      from: payer.address,
      to: payees[i] as Address,
      token: token.address,
      amount: UNIT,
      fee: 1_000n,
      nonce: 0n,
      validAfter: 0n,
      validBefore,
      ref: `0x${"00".repeat(32)}` as Hex,
    }));
    for (let i = 0; i < warmUp.length; i += 100) {
      const chunk = warmUp.slice(i, i + 100);
      const signatures = await Promise.all(
        chunk.map((payment, k) => signPayment({ account: payers[i + k] as LocalAccount, domain, payment })),
      );
      await gasOf(hub.write.settleBatch([chunk, signatures], { account: relayer.account }));
    }
    return { hub, token, domain };
  }
  type Fixture = Awaited<ReturnType<typeof deployWarmHub>>;

  async function intents(fixture: Fixture, count: number, payee: (i: number) => Address) {
    const ps: Payment[] = Array.from({ length: count }, (_, i) => ({
      from: (payers[i] as LocalAccount).address,
      to: payee(i),
      token: fixture.token.address,
      amount: UNIT + BigInt(i),
      fee: 1_000n,
      nonce: 1n,
      validAfter: 0n,
      validBefore,
      ref: keccak256(stringToHex(`invoice ${i}`)),
    }));
    const signatures = await Promise.all(
      ps.map((payment, i) => signPayment({ account: payers[i] as LocalAccount, domain: fixture.domain, payment })),
    );
    return [ps, signatures] as const;
  }

  async function batchGas(count: number, payee: (i: number) => Address): Promise<number> {
    const fixture = await networkHelpers.loadFixture(deployWarmHub);
    const [ps, signatures] = await intents(fixture, count, payee);
    const before = await fixture.hub.read.balanceOf([relayer.account.address, fixture.token.address]);
    const gas = await gasOf(fixture.hub.write.settleBatch([ps, signatures], { account: relayer.account }));
    const after = await fixture.hub.read.balanceOf([relayer.account.address, fixture.token.address]);
    if (after - before !== 1_000n * BigInt(count)) throw new Error(`settleBatch of ${count}: not every intent settled`);
    return gas;
  }

  progress(`hub: warm-up of ${payerCount} payers`);
  const curves: GasResults["batches"] = { distinct: [], merchant: [] };
  for (const [pattern, payee] of [
    ["distinct", (i: number) => payees[i] as Address],
    ["merchant", () => merchant],
  ] as const) {
    for (const size of sizes) {
      progress(`hub: settleBatch of ${size} (${pattern === "distinct" ? "distinct payees" : "one merchant"})`);
      const gas = await batchGas(size, payee);
      const first = curves[pattern][0];
      curves[pattern].push({
        size,
        gas,
        perPayment: Math.round(gas / size),
        ...(first === undefined || size === 1 ? {} : { marginal: Math.floor((gas - first.gas) / (size - 1)) }),
      });
    }
  }

  progress("hub: settle one; baselines: ERC-20 transfer to an existing and a new holder, native transfer");
  const fixture = await networkHelpers.loadFixture(deployWarmHub);
  const [[single], [signature]] = await intents(fixture, 1, (i) => payees[i] as Address);
  const settleOne = await gasOf(
    fixture.hub.write.settle([single as Payment, signature as Hex], { account: relayer.account }),
  );
  // Baselines with the same token: the funder has sent it before; the holder already holds it.
  const holder = testAccount("holder").address;
  await fixture.token.write.transfer([holder, UNIT]);
  const erc20Existing = await gasOf(fixture.token.write.transfer([holder, UNIT]));
  const erc20New = await gasOf(fixture.token.write.transfer([testAccount("new holder").address, UNIT]));
  const native = await gasOf(funder.sendTransaction({ to: holder, value: 1n }));

  const at = (pattern: "distinct" | "merchant", size: number) => curves[pattern].find((p) => p.size === size);
  const rows: GasRow[] = [
    {
      key: "hub.settle",
      label: "settle (one intent)",
      gas: settleOne,
      baseline: "erc20Existing",
      snapshot: { file: "SettlementHub", key: "settle (one intent)" },
    },
  ];
  for (const [pattern, label, target, snapshotKey] of [
    ["distinct", "100 payers → 100 payees", 27_000, "settleBatch marginal per intent (100 payers, 100 payees)"],
    ["merchant", "100 payers → one merchant", 23_000, "settleBatch marginal per intent (100 payers, one merchant)"],
  ] as const) {
    const p100 = at(pattern, 100);
    if (p100?.marginal === undefined) continue;
    rows.push({
      key: `hub.marginal100.${pattern}`,
      label: `settleBatch of 100, marginal per payment (${label})`,
      gas: p100.marginal,
      baseline: "erc20Existing",
      target,
      note: "(batch of 100 - batch of 1) / 99",
      snapshot: { file: "SettlementHub", key: snapshotKey },
    });
  }
  return {
    rows,
    batches: curves,
    baselines: {
      erc20Existing: { label: "ERC-20 transfer, existing holder", gas: erc20Existing },
      erc20New: { label: "ERC-20 transfer, new holder", gas: erc20New },
      native: { label: "native transfer", gas: native },
    },
  };
}

const TEST_MNEMONIC = "test test test test test test test test test test test junk";

async function measureChannels(progress: Progress, voucherCounts: readonly number[]): Promise<GasRow[]> {
  const connection = await network.create();
  const { viem } = connection;
  const gasOf = receiptGas(connection);
  const [owner, payer, payee] = await viem.getWalletClients();
  const channels = await viem.deployContract("PaymentChannels", [owner.account.address, 3_600n]);
  const token = await viem.deployContract("TestToken", ["Test USD", "TUSD", 18]);
  await token.write.mint([payer.account.address, parseEther("1000000")]);
  await token.write.approve([channels.address, parseEther("1000000")], { account: payer.account });
  const payerKey = mnemonicToAccount(TEST_MNEMONIC, { addressIndex: 1 });
  const domain = { chainId: await (await viem.getPublicClient()).getChainId(), verifyingContract: channels.address };
  const payeeAddress = payee.account.address;
  await token.write.mint([payeeAddress, 1n]);
  const deposit = parseEther("100");
  let nextSalt = 1;

  async function open(): Promise<{ id: Hex; gas: number }> {
    const salt = `0x${(nextSalt++).toString(16).padStart(64, "0")}` as Hex;
    const id = await channels.read.channelIdOf([payer.account.address, payeeAddress, token.address, salt]);
    const gas = await gasOf(
      channels.write.open([payeeAddress, token.address, zeroAddress, deposit, salt], { account: payer.account }),
    );
    return { id, gas };
  }
  const voucher = (channelId: Hex, cumulativeAmount: bigint) =>
    signVoucher({ account: payerKey, domain, voucher: { channelId, cumulativeAmount } });

  progress("channels: open, claim, close");
  await open(); // the contract's first channel of this token: not measured
  const opened = await open();
  await open(); // as in the test (a channel with a session key there)
  const claim = await gasOf(
    channels.write.claim([opened.id, 1_000n, await voucher(opened.id, 1_000n)], { account: payee.account }),
  );
  const closing = await open();
  const close = await gasOf(
    channels.write.close([closing.id, 7_000n, await voucher(closing.id, 7_000n)], { account: payee.account }),
  );

  const snapshot = (key: string) => ({ file: "PaymentChannels", key });
  const rows: GasRow[] = [
    {
      key: "channels.open",
      label: "open",
      gas: opened.gas,
      target: 120_000,
      note: "ERC-20, finite allowance",
      snapshot: snapshot("open"),
    },
    { key: "channels.claim", label: "claim", gas: claim, target: 58_000, snapshot: snapshot("claim") },
    {
      key: "channels.close",
      label: "close",
      gas: close,
      target: 70_000,
      note: "payee, final voucher, rest back to the payer",
      snapshot: snapshot("close"),
    },
  ];
  // Amortized: open + one close with the latest of N vouchers; each voucher is a micropayment,
  // signed off-chain, and only the last goes on-chain (so only the last needs signing here).
  for (const n of voucherCounts) {
    progress(`channels: ${n.toLocaleString("en-US")} micropayments in one channel`);
    const channel = await open();
    const closeGas = await gasOf(
      channels.write.close([channel.id, BigInt(n), await voucher(channel.id, BigInt(n))], { account: payee.account }),
    );
    if ((await channels.read.getChannel([channel.id])).claimed !== BigInt(n)) throw new Error("close did not pay");
    rows.push({
      key: `channels.amortized${n}`,
      label: `per micropayment, ${n.toLocaleString("en-US")} voucher${n === 1 ? "" : "s"}`,
      gas: Math.round((channel.gas + closeGas) / n),
      baseline: "erc20Existing",
      ...(n === 10_000 ? { target: 20 } : {}),
      note: "(open + close) / vouchers",
      snapshot: snapshot(`amortizedPerMicropayment${n}`),
    });
  }
  return rows;
}

/** Every gas figure of the benchmark; `progress` is told what is being measured. */
export async function measureGas(
  progress: Progress,
  options: { batchSizes?: readonly number[]; voucherCounts?: readonly number[] } = {},
): Promise<GasResults> {
  const escrow = await measureEscrow(progress);
  const hub = await measureHub(progress, options.batchSizes ?? [1, 10, 100, 400]);
  const channels = await measureChannels(progress, options.voucherCounts ?? [1, 100, 10_000]);
  return { baselines: hub.baselines, escrow, hub: hub.rows, channels, batches: hub.batches };
}
