// The package as a dApp installs it: `npm pack`, unpacked into a consumer's node_modules beside
// its dependencies, then imported by plain Node (no TypeScript loader) and type-checked by tsc
// as a consumer's code. The build it ships (`dist/`) comes from `npm run build`, which
// `npm run test:ts` runs first.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { expect } from "chai";
import { privateKeyToAccount } from "viem/accounts";
import { hashPayment, hashVoucher, signVoucher } from "../../src/client/index.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

const KEY = `0x${"07".repeat(32)}` as const;
const DOMAIN = { chainId: 424242, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" } as const;
const VOUCHER = { channelId: `0x${"11".repeat(32)}`, cumulativeAmount: 123n } as const;
const PAYMENT = {
  from: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  to: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
  token: "0x0000000000000000000000000000000000000000",
  amount: 10n,
  fee: 1n,
  nonce: 7n,
  validAfter: 0n,
  validBefore: 2n ** 40n,
  ref: `0x${"22".repeat(32)}`,
} as const;

/** Run by plain Node in the consumer's folder: what a dApp would compute with the package. */
const CONSUMER_JS = `
import { defaultRecoveryBackend, hashPayment, hashVoucher, loadDeployment, paymentChannelsAbi, signVoucher, verifyVoucher } from "settlekit";
import { PaymentChannels__factory } from "settlekit/ethers";
import { privateKeyToAccount } from "viem/accounts";

const domain = ${JSON.stringify(DOMAIN)};
const voucher = { channelId: "${VOUCHER.channelId}", cumulativeAmount: ${VOUCHER.cumulativeAmount}n };
const payment = {
  from: "${PAYMENT.from}", to: "${PAYMENT.to}", token: "${PAYMENT.token}", amount: ${PAYMENT.amount}n, fee: ${PAYMENT.fee}n,
  nonce: ${PAYMENT.nonce}n, validAfter: ${PAYMENT.validAfter}n, validBefore: ${PAYMENT.validBefore}n, ref: "${PAYMENT.ref}",
};
const account = privateKeyToAccount("${KEY}");
const signature = await signVoucher({ account, domain, voucher });
console.log(JSON.stringify({
  entry: import.meta.resolve("settlekit"),
  voucherDigest: hashVoucher({ domain, voucher }),
  paymentDigest: hashPayment({ domain, payment }),
  signature,
  verified: await verifyVoucher({ domain, voucher, signer: account.address, signature }),
  backend: defaultRecoveryBackend(),
  deployment: loadDeployment(${DOMAIN.chainId}),
  ethersAbiIsTheClientAbi: JSON.stringify(PaymentChannels__factory.abi) === JSON.stringify(paymentChannelsAbi),
}));
`;

/** Type-checked by tsc against the shipped declarations, as a consumer's strict project would. */
const CONSUMER_TS = `
import { type Payment, type Voucher, createSettlementClient, hashVoucher } from "settlekit";
import { type PaymentChannels, PaymentChannels__factory } from "settlekit/ethers";

const voucher: Voucher = { channelId: "0x${"11".repeat(32)}", cumulativeAmount: 1n };
export const digest: \`0x\${string}\` = hashVoucher({ domain: { chainId: 1, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" }, voucher });
export const factory: typeof PaymentChannels__factory = PaymentChannels__factory;
export type Channels = PaymentChannels;
export type Client = ReturnType<typeof createSettlementClient>;
// The declarations are real types, not \`any\`: each of these is an error tsc must report.
// @ts-expect-error cumulativeAmount is a bigint
export const wrongAmount: Voucher = { channelId: "0x00", cumulativeAmount: 1 };
// @ts-expect-error a payment has no \`value\` field
export const wrongPayment: Partial<Payment> = { value: 1n };
`;

describe("the packed package, as a dApp installs it", () => {
  const work = mkdtempSync(join(tmpdir(), "settlekit-package-"));
  const consumer = join(work, "consumer");
  const modules = join(consumer, "node_modules");
  let packed: string[] = [];

  before(() => {
    if (!existsSync(join(ROOT, "dist", "src", "client", "index.js"))) {
      throw new Error("dist/ is missing: run `npm run build` (npm run test:ts does) before this test");
    }
    // --ignore-scripts: `prepack` would rebuild; the build under test is the one just made.
    const [result] = JSON.parse(
      execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      }),
    ) as [{ filename: string; files: { path: string }[] }];
    packed = result.files.map((f) => f.path);
    mkdirSync(modules, { recursive: true });
    execFileSync("tar", ["-xzf", join(work, result.filename), "-C", modules]);
    renameSync(join(modules, "package"), join(modules, "settlekit"));
    // Its dependencies and peers, as `npm install settlekit viem ethers` would put them beside it.
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(join(ROOT, "node_modules", name), join(modules, name), "dir");
    }
    const records = join(modules, "settlekit", "deploy", "deployments");
    mkdirSync(records, { recursive: true });
    writeFileSync(
      join(records, `${DOMAIN.chainId}.json`),
      JSON.stringify({ chainId: DOMAIN.chainId, contracts: { SettlementHub: { address: DOMAIN.verifyingContract } } }),
    );
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "dapp", private: true, type: "module" }));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("ships the built entries, the relayer and the contracts, and no tests", () => {
    for (const file of [
      "package.json",
      "dist/src/client/index.js",
      "dist/src/client/index.d.ts",
      "dist/src/ethers/index.js",
      "dist/src/ethers/index.d.ts",
      "dist/types/ethers-contracts/factories/micropayments/PaymentChannels__factory.js",
      "src/relayer/bin.mjs",
      "contracts/settlement/SettlementHub.sol",
    ]) {
      expect(packed, file).to.include(file);
    }
    const stray = packed.filter((f) => /^(test|scripts|contracts\/test|node_modules|artifacts|cache)\/|\.env/.test(f));
    expect(stray).to.deep.equal([]);
  });

  it("runs no script of its own when a dApp installs it (this repository's install check stays here)", () => {
    const { scripts } = JSON.parse(readFileSync(join(modules, "settlekit", "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    // npm runs these in the dApp's install; `prepare` runs only in a clone of this repository.
    expect(Object.keys(scripts).filter((name) => /^(pre|post)?install$/.test(name))).to.deep.equal([]);
    expect(scripts.prepare).to.equal("node scripts/postinstall.mjs");
  });

  it("runs in plain Node from the build, with the results of the sources", async () => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // no TypeScript loader: the consumer's Node as it is
    writeFileSync(join(consumer, "consumer.mjs"), CONSUMER_JS);
    const out = JSON.parse(
      execFileSync(process.execPath, ["consumer.mjs"], { cwd: consumer, env, encoding: "utf8" }),
    ) as Record<string, unknown>;
    const account = privateKeyToAccount(KEY);
    expect(out).to.deep.equal({
      entry: `file://${join(modules, "settlekit", "dist", "src", "client", "index.js")}`,
      voucherDigest: hashVoucher({ domain: DOMAIN, voucher: VOUCHER }),
      paymentDigest: hashPayment({ domain: DOMAIN, payment: PAYMENT }),
      signature: await signVoucher({ account, domain: DOMAIN, voucher: VOUCHER }),
      verified: true,
      backend: "native",
      deployment: { chainId: DOMAIN.chainId, contracts: { SettlementHub: { address: DOMAIN.verifyingContract } } },
      ethersAbiIsTheClientAbi: true,
    });
  });

  it("type-checks a consumer's strict TypeScript against the shipped declarations", () => {
    writeFileSync(join(consumer, "consumer.ts"), CONSUMER_TS);
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2022", "DOM"],
          types: [],
          strict: true,
          skipLibCheck: true,
          noEmit: true,
        },
        files: ["consumer.ts"],
      }),
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: consumer, encoding: "utf8" });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).to.equal("");
  });
});
