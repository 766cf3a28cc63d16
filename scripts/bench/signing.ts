// Off-chain signing throughput on one core (this process's main thread): payments and vouchers
// signed and verified per second, settlekit's native and pure-JS recovery paths, with viem's
// generic typed-data functions as the reference. Measures; asserts nothing. Used by
// `npm run bench:signing` (scripts/bench-signing.ts) and by `npm run bench` (scripts/bench.ts).
import { type Hex, hashTypedData, verifyTypedData } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  DOMAIN_VERSION,
  hashPayment,
  hashVoucher,
  PAYMENT_CHANNELS_DOMAIN_NAME,
  type Payment,
  SETTLEMENT_HUB_DOMAIN_NAME,
  settlekitTypes,
  signPayment,
  signVoucher,
  type Voucher,
  verifyPayment,
  verifyVoucher,
} from "../../src/client/index.js";

const account = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const domain = { chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" } as const;
const POOL = 512;

const payments: Payment[] = Array.from({ length: POOL }, (_, i) => ({
  from: account.address,
  to: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
  token: "0x0000000000000000000000000000000000000000",
  amount: 1_000_000n + BigInt(i),
  fee: 1_000n,
  nonce: BigInt(i),
  validAfter: 0n,
  validBefore: 2_000_000_000n,
  ref: `0x${i.toString(16).padStart(64, "0")}`,
}));
const channelId: Hex = `0x${"ab".repeat(32)}`;
const vouchers: Voucher[] = Array.from({ length: POOL }, (_, i) => ({
  channelId,
  cumulativeAmount: BigInt(i + 1) * 1000n,
}));

/**
 * Operations per CPU-second of `op(i)`, run back to back for `seconds`; median of three runs.
 * CPU time (user + system of this process) rather than wall time, so that other processes
 * sharing the machine do not count against the one core measured.
 */
async function rate(seconds: number, op: (i: number) => unknown | Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let run = 0; run < 3; run++) {
    let count = 0;
    const deadline = performance.now() + (seconds * 1000) / 3;
    const start = process.cpuUsage();
    while (performance.now() < deadline) {
      for (let k = 0; k < 64; k++) await op(count++ % POOL);
    }
    const used = process.cpuUsage(start);
    runs.push((count * 1e6) / (used.user + used.system));
  }
  return runs.sort((a, b) => a - b)[1] as number;
}

/** One measured operation: what it is, and how many ran per CPU-second (median of three runs). */
export interface SigningRate {
  name: string;
  perSecond: number;
}

/**
 * Measures every signing operation for `seconds` each (split into three runs), in this order:
 * hashes, signatures, then verifications; `onProgress` is told after each.
 */
export async function measureSigning(
  seconds: number,
  onProgress: (done: number, total: number, name: string) => void = () => undefined,
): Promise<SigningRate[]> {
  const paymentSignatures = await Promise.all(payments.map((payment) => signPayment({ account, domain, payment })));
  const voucherSignatures = await Promise.all(vouchers.map((voucher) => signVoucher({ account, domain, voucher })));
  const hubDomain = { name: SETTLEMENT_HUB_DOMAIN_NAME, version: DOMAIN_VERSION, ...domain };
  const channelsDomain = { name: PAYMENT_CHANNELS_DOMAIN_NAME, version: DOMAIN_VERSION, ...domain };
  const signer = account.address;

  const operations: [string, (i: number) => unknown][] = [
    ["payment hash, settlekit hashPayment", (i) => hashPayment({ domain, payment: payments[i] as Payment })],
    [
      "payment hash, viem hashTypedData (reference)",
      (i) =>
        hashTypedData({
          domain: hubDomain,
          types: settlekitTypes,
          primaryType: "Payment",
          message: payments[i] as Payment,
        }),
    ],
    ["voucher hash, settlekit hashVoucher", (i) => hashVoucher({ domain, voucher: vouchers[i] as Voucher })],
    ["payment sign, settlekit signPayment", (i) => signPayment({ account, domain, payment: payments[i] as Payment })],
    ["voucher sign, settlekit signVoucher", (i) => signVoucher({ account, domain, voucher: vouchers[i] as Voucher })],
    [
      "voucher sign, viem signTypedData (reference)",
      (i) =>
        account.signTypedData({
          domain: channelsDomain,
          types: settlekitTypes,
          primaryType: "Voucher",
          message: vouchers[i] as Voucher,
        }),
    ],
    [
      "payment verify, native secp256k1",
      (i) =>
        verifyPayment({
          domain,
          payment: payments[i] as Payment,
          signature: paymentSignatures[i] as Hex,
          backend: "native",
        }),
    ],
    [
      "payment verify, pure JS (@noble/curves)",
      (i) =>
        verifyPayment({
          domain,
          payment: payments[i] as Payment,
          signature: paymentSignatures[i] as Hex,
          backend: "js",
        }),
    ],
    [
      "voucher verify, native secp256k1",
      (i) =>
        verifyVoucher({
          domain,
          voucher: vouchers[i] as Voucher,
          signer,
          signature: voucherSignatures[i] as Hex,
          backend: "native",
        }),
    ],
    [
      "voucher verify, pure JS (@noble/curves)",
      (i) =>
        verifyVoucher({
          domain,
          voucher: vouchers[i] as Voucher,
          signer,
          signature: voucherSignatures[i] as Hex,
          backend: "js",
        }),
    ],
    [
      "voucher verify, viem verifyTypedData (reference)",
      (i) =>
        verifyTypedData({
          address: signer,
          domain: channelsDomain,
          types: settlekitTypes,
          primaryType: "Voucher",
          message: vouchers[i] as Voucher,
          signature: voucherSignatures[i] as Hex,
        }),
    ],
  ];

  const results: SigningRate[] = [];
  for (const [name, op] of operations) {
    results.push({ name, perSecond: await rate(seconds, op) });
    onProgress(results.length, operations.length, name);
  }
  return results;
}
