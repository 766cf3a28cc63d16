import { describe, it } from "node:test";
import { expect } from "chai";
import fc from "fast-check";
import {
  type Address,
  bytesToHex,
  createWalletClient,
  custom,
  type EIP1193RequestFn,
  encodeAbiParameters,
  getAddress,
  type Hex,
  hashTypedData,
  InvalidAddressError,
  isAddress,
  keccak256,
  parseSignature,
  recoverAddress,
  serializeSignature,
} from "viem";
import { privateKeyToAccount, sign } from "viem/accounts";
import {
  channelIdOf,
  DOMAIN_VERSION,
  defaultRecoveryBackend,
  ESCROW_DOMAIN_NAME,
  hashPayment,
  hashRelease,
  hashVoucher,
  PAYMENT_CHANNELS_DOMAIN_NAME,
  type Payment,
  recoverDigestSigner,
  SETTLEMENT_HUB_DOMAIN_NAME,
  SettlekitInvalidInputError,
  settlekitTypes,
  signPayment,
  signRelease,
  signVoucher,
  verifyPayment,
  verifyRelease,
  verifyVoucher,
} from "../../src/client/index.js";
import { keccak256Bytes } from "../../src/client/signing/keccak.js";
import * as arb from "./arbitraries.js";

const RUNS = { numRuns: 200 };

function viemDomain(name: string, domain: { chainId: number; verifyingContract: Address }) {
  return { name, version: DOMAIN_VERSION, ...domain };
}

/** `address` with the case of its first letter flipped: a typo its EIP-55 checksum catches. */
function typo(address: Address): Address {
  const i = address.slice(2).search(/[a-fA-F]/) + 2;
  const c = address.charAt(i);
  const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
  return `${address.slice(0, i)}${flipped}${address.slice(i + 1)}` as Address;
}

describe("client signing (off-chain)", () => {
  describe("digests", () => {
    it("computes keccak256 as viem does, for any length across the 136-byte block boundaries", () => {
      const lengths = fc.oneof(fc.constantFrom(0, 1, 135, 136, 137, 271, 272, 273), fc.nat(700));
      fc.assert(
        fc.property(
          lengths.chain((length) => fc.uint8Array({ minLength: length, maxLength: length })),
          (data) => {
            expect(bytesToHex(keccak256Bytes(data))).to.equal(keccak256(data));
          },
        ),
        RUNS,
      );
    });

    it("hashes payments exactly as viem's hashTypedData", () => {
      fc.assert(
        fc.property(arb.domain, arb.payment, (domain, payment) => {
          const expected = hashTypedData({
            domain: viemDomain(SETTLEMENT_HUB_DOMAIN_NAME, domain),
            types: settlekitTypes,
            primaryType: "Payment",
            message: payment,
          });
          expect(hashPayment({ domain, payment })).to.equal(expected);
        }),
        RUNS,
      );
    });

    it("hashes vouchers exactly as viem's hashTypedData", () => {
      fc.assert(
        fc.property(arb.domain, arb.voucher, (domain, voucher) => {
          const expected = hashTypedData({
            domain: viemDomain(PAYMENT_CHANNELS_DOMAIN_NAME, domain),
            types: settlekitTypes,
            primaryType: "Voucher",
            message: voucher,
          });
          expect(hashVoucher({ domain, voucher })).to.equal(expected);
        }),
        RUNS,
      );
    });

    it("hashes releases exactly as viem's hashTypedData", () => {
      fc.assert(
        fc.property(arb.domain, arb.release, (domain, release) => {
          const expected = hashTypedData({
            domain: viemDomain(ESCROW_DOMAIN_NAME, domain),
            types: settlekitTypes,
            primaryType: "Release",
            message: release,
          });
          expect(hashRelease({ domain, release })).to.equal(expected);
        }),
        RUNS,
      );
    });

    it("gives the same digest for a lower-case and a checksummed address", () => {
      fc.assert(
        fc.property(arb.domain, arb.payment, (domain, payment) => {
          const lower = {
            ...payment,
            from: payment.from.toLowerCase() as Address,
            to: payment.to.toLowerCase() as Address,
          };
          expect(hashPayment({ domain, payment: lower })).to.equal(hashPayment({ domain, payment }));
        }),
        { numRuns: 50 },
      );
    });

    it("accepts a mixed-case address only with a valid EIP-55 checksum, as viem's isAddress", () => {
      const casings = fc.array(fc.boolean(), { minLength: 40, maxLength: 40 });
      fc.assert(
        fc.property(arb.domain, arb.payment, casings, (domain, payment, upper) => {
          const hex = [...payment.to.slice(2)].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join("");
          const to = `0x${hex}` as Address;
          const uncased = hex === hex.toLowerCase() || hex === hex.toUpperCase();
          const call = () => hashPayment({ domain, payment: { ...payment, to } });
          if (uncased || isAddress(to, { strict: true })) expect(call()).to.equal(hashPayment({ domain, payment }));
          else
            expect(call)
              .to.throw(SettlekitInvalidInputError, /checksum/)
              .with.property("field", "to");
        }),
        RUNS,
      );
    });

    it("rejects a mistyped checksum in every address field, also of a cached domain", () => {
      const addresses: Address[] = [
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      ];
      const [from, to, token] = addresses as [Address, Address, Address];
      for (const address of addresses) expect(isAddress(typo(address), { strict: true })).to.equal(false);
      const domain = { chainId: 31337, verifyingContract: token };
      const payment: Payment = {
        from,
        to,
        token,
        amount: 1n,
        fee: 0n,
        nonce: 0n,
        validAfter: 0n,
        validBefore: 1n,
        ref: `0x${"00".repeat(32)}`,
      };
      for (const field of ["from", "to", "token"] as const) {
        expect(() => hashPayment({ domain, payment: { ...payment, [field]: typo(payment[field]) } }))
          .to.throw(SettlekitInvalidInputError, /EIP-55 checksum/)
          .with.property("field", field);
      }
      expect(() => channelIdOf({ payer: from, payee: typo(to), token, salt: payment.ref }))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "payee");
      // The domain's separator is cached for the right spelling; the typo is still refused.
      const digest = hashPayment({ domain, payment });
      expect(() => hashPayment({ domain: { ...domain, verifyingContract: typo(token) }, payment }))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "verifyingContract");
      for (const verifyingContract of [token.toLowerCase(), `0x${token.slice(2).toUpperCase()}`] as Address[]) {
        expect(hashPayment({ domain: { ...domain, verifyingContract }, payment })).to.equal(digest);
      }
    });

    it("checks the chain id before the cached domain: a string is refused even once the number is cached", () => {
      const domain = { chainId: 31337, verifyingContract: getAddress(`0x${"12".repeat(20)}`) };
      const voucher = { channelId: `0x${"00".repeat(32)}`, cumulativeAmount: 1n } as const;
      hashVoucher({ domain, voucher });
      for (const chainId of ["31337", 31337.5, Number.NaN, 2 ** 53]) {
        expect(() => hashVoucher({ domain: { ...domain, chainId: chainId as number }, voucher }))
          .to.throw(SettlekitInvalidInputError)
          .with.property("field", "chainId");
      }
    });

    it("rejects values that do not fit their Solidity types, naming the field", () => {
      const domain = { chainId: 1, verifyingContract: getAddress(`0x${"11".repeat(20)}`) };
      const payment: Payment = {
        from: domain.verifyingContract,
        to: domain.verifyingContract,
        token: domain.verifyingContract,
        amount: 1n,
        fee: 0n,
        nonce: 0n,
        validAfter: 0n,
        validBefore: 1n,
        ref: `0x${"00".repeat(32)}`,
      };
      const cases: [Partial<Payment>, string][] = [
        [{ amount: 1n << 256n }, "amount"],
        [{ fee: -1n }, "fee"],
        [{ validBefore: 1n << 64n }, "validBefore"],
        [{ amount: 5 as unknown as bigint }, "amount"],
        [{ from: "0x1234" as Address }, "from"],
        [{ to: `0x${"zz".repeat(20)}` as Address }, "to"],
        [{ ref: "0x00" as Hex }, "ref"],
      ];
      for (const [patch, field] of cases) {
        const call = () => hashPayment({ domain, payment: { ...payment, ...patch } });
        expect(call).to.throw(SettlekitInvalidInputError).with.property("field", field);
      }
      expect(() => hashPayment({ domain: { ...domain, chainId: 0 }, payment }))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "chainId");
      expect(() => hashVoucher({ domain, voucher: { channelId: "0x12", cumulativeAmount: 1n } }))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "channelId");
      expect(() => hashRelease({ domain, release: { id: -1n, releasedTotal: 0n, deadline: 0n } }))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "id");
    });

    it("computes channel ids as keccak256(abi.encode(payer, payee, token, salt))", () => {
      fc.assert(
        fc.property(arb.address, arb.address, arb.address, arb.bytes32, (payer, payee, token, salt) => {
          const expected = keccak256(
            encodeAbiParameters(
              [{ type: "address" }, { type: "address" }, { type: "address" }, { type: "bytes32" }],
              [payer, payee, token, salt],
            ),
          );
          expect(channelIdOf({ payer, payee, token, salt })).to.equal(expected);
        }),
        RUNS,
      );
    });
  });

  describe("recovery", () => {
    it("uses native libsecp256k1 in Node", () => {
      expect(defaultRecoveryBackend()).to.equal("native");
    });

    it("recovers the signer identically on the native and the pure-JS path", async () => {
      await fc.assert(
        fc.asyncProperty(arb.privateKey, arb.bytes32, async (key, digest) => {
          const signature = await sign({ hash: digest, privateKey: key, to: "hex" });
          const signer = privateKeyToAccount(key).address;
          expect(recoverDigestSigner(digest, signature, { backend: "native" })).to.equal(signer);
          expect(recoverDigestSigner(digest, signature, { backend: "js" })).to.equal(signer);
        }),
        RUNS,
      );
    });

    it("agrees between the native and the pure-JS path on arbitrary signature bytes", () => {
      const signatureBytes = fc
        .tuple(arb.bytes32, arb.bytes32, fc.constantFrom(27, 28, 0, 1, 29))
        .map(([r, s, v]) => `${r}${s.slice(2)}${v.toString(16).padStart(2, "0")}` as Hex);
      const outcomes = { recovered: 0, rejected: 0 };
      fc.assert(
        fc.property(arb.bytes32, signatureBytes, (digest, signature) => {
          const native = recoverDigestSigner(digest, signature, { backend: "native" });
          const js = recoverDigestSigner(digest, signature, { backend: "js" });
          expect(native).to.equal(js);
          outcomes[native === null ? "rejected" : "recovered"] += 1;
        }),
        { numRuns: 400 },
      );
      // Random r/s recover some key about a quarter of the time: both outcomes were compared.
      expect(outcomes.recovered).to.be.greaterThan(20);
      expect(outcomes.rejected).to.be.greaterThan(20);
    });

    it("rejects the high-s twin of a valid signature on both paths, as OZ ECDSA does", async () => {
      await fc.assert(
        fc.asyncProperty(arb.privateKey, arb.bytes32, async (key, digest) => {
          const { r, s, yParity } = parseSignature(await sign({ hash: digest, privateKey: key, to: "hex" }));
          const twin = serializeSignature({
            r,
            s: `0x${(arb.SECP256K1_N - BigInt(s)).toString(16).padStart(64, "0")}`,
            yParity: 1 - (yParity as number),
          });
          // The twin is a valid ECDSA signature by the same key…
          expect(await recoverAddress({ hash: digest, signature: twin })).to.equal(privateKeyToAccount(key).address);
          // …that the contracts, and so the client, refuse.
          expect(recoverDigestSigner(digest, twin, { backend: "native" })).to.equal(null);
          expect(recoverDigestSigner(digest, twin, { backend: "js" })).to.equal(null);
        }),
        { numRuns: 50 },
      );
    });

    it("returns null for malformed signatures and v other than 27 or 28", async () => {
      const key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
      const digest = keccak256("0x01");
      const signature = await sign({ hash: digest, privateKey: key, to: "hex" });
      const v = Number.parseInt(signature.slice(130), 16);
      const withV = (value: number) => `${signature.slice(0, 130)}${value.toString(16).padStart(2, "0")}` as Hex;
      expect(recoverDigestSigner(digest, signature)).to.equal(privateKeyToAccount(key).address);
      for (const bad of [
        withV(v - 27),
        withV(v + 2),
        signature.slice(0, 130) as Hex,
        `${signature}00` as Hex,
        `0x${"zz".repeat(65)}` as Hex,
        `0x${"00".repeat(64)}1b` as Hex,
        "" as Hex,
        42 as unknown as Hex,
      ]) {
        expect(recoverDigestSigner(digest, bad)).to.equal(null);
      }
      expect(() => recoverDigestSigner("0x1234", signature))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "digest");
    });
  });

  describe("sign and verify", () => {
    it("signs payments exactly as viem's signTypedData and verifies them", async () => {
      await fc.assert(
        fc.asyncProperty(arb.privateKey, arb.domain, arb.payment, async (key, domain, draft) => {
          const account = privateKeyToAccount(key);
          const payment = { ...draft, from: account.address };
          const signature = await signPayment({ account, domain, payment });
          const expected = await account.signTypedData({
            domain: viemDomain(SETTLEMENT_HUB_DOMAIN_NAME, domain),
            types: settlekitTypes,
            primaryType: "Payment",
            message: payment,
          });
          expect(signature).to.equal(expected);
          expect(await verifyPayment({ domain, payment, signature })).to.equal(true);
        }),
        RUNS,
      );
    });

    it("rejects a payment with any field tampered, or signed for another deployment", async () => {
      const fields = ["from", "to", "token", "amount", "fee", "nonce", "validAfter", "validBefore", "ref"] as const;
      await fc.assert(
        fc.asyncProperty(
          arb.privateKey,
          arb.domain,
          arb.payment,
          fc.constantFrom(...fields),
          fc.nat(),
          async (key, domain, draft, field, seed) => {
            const account = privateKeyToAccount(key);
            const payment = { ...draft, from: account.address };
            const signature = await signPayment({ account, domain, payment });
            const changed = arb.tampered(payment, field, seed);
            expect(await verifyPayment({ domain, payment: changed, signature })).to.equal(false);
            const otherChain = { ...domain, chainId: (domain.chainId % 1_000_000) + 1_000_001 };
            expect(await verifyPayment({ domain: otherChain, payment, signature })).to.equal(false);
          },
        ),
        RUNS,
      );
    });

    it("signs vouchers as viem does, verifies them, and rejects tampered ones", async () => {
      await fc.assert(
        fc.asyncProperty(
          arb.privateKey,
          arb.domain,
          arb.voucher,
          fc.constantFrom("channelId" as const, "cumulativeAmount" as const),
          fc.nat(),
          async (key, domain, voucher, field, seed) => {
            const account = privateKeyToAccount(key);
            const signature = await signVoucher({ account, domain, voucher });
            const expected = await account.signTypedData({
              domain: viemDomain(PAYMENT_CHANNELS_DOMAIN_NAME, domain),
              types: settlekitTypes,
              primaryType: "Voucher",
              message: voucher,
            });
            expect(signature).to.equal(expected);
            const signer = account.address;
            expect(await verifyVoucher({ domain, voucher, signer, signature })).to.equal(true);
            const changed = arb.tampered(voucher, field, seed);
            expect(await verifyVoucher({ domain, voucher: changed, signer, signature })).to.equal(false);
          },
        ),
        RUNS,
      );
    });

    it("signs releases as viem does, verifies them, and rejects tampered ones or another signer", async () => {
      await fc.assert(
        fc.asyncProperty(
          arb.privateKey,
          arb.domain,
          arb.release,
          fc.constantFrom("id" as const, "releasedTotal" as const, "deadline" as const),
          fc.nat(),
          arb.address,
          async (key, domain, release, field, seed, stranger) => {
            const account = privateKeyToAccount(key);
            const signature = await signRelease({ account, domain, release });
            const expected = await account.signTypedData({
              domain: viemDomain(ESCROW_DOMAIN_NAME, domain),
              types: settlekitTypes,
              primaryType: "Release",
              message: release,
            });
            expect(signature).to.equal(expected);
            const signer = account.address;
            expect(await verifyRelease({ domain, release, signer, signature })).to.equal(true);
            expect(
              await verifyRelease({ domain, release: arb.tampered(release, field, seed), signer, signature }),
            ).to.equal(false);
            expect(await verifyRelease({ domain, release, signer: stranger, signature })).to.equal(false);
          },
        ),
        RUNS,
      );
    });

    it("refuses a voucher's or a release's signer that is no address, as every signed address field", async () => {
      const account = privateKeyToAccount(`0x${"01".repeat(32)}`);
      const domain = { chainId: 1, verifyingContract: getAddress(`0x${"22".repeat(20)}`) };
      const voucher = { channelId: `0x${"33".repeat(32)}` as const, cumulativeAmount: 5n };
      const release = { id: 1n, releasedTotal: 5n, deadline: 10n };
      const voucherSignature = await signVoucher({ account, domain, voucher });
      const releaseSignature = await signRelease({ account, domain, release });
      // Lower case and the checksummed form are the same signer.
      for (const signer of [account.address, account.address.toLowerCase() as Address]) {
        expect(await verifyVoucher({ domain, voucher, signer, signature: voucherSignature })).to.equal(true);
        expect(await verifyRelease({ domain, release, signer, signature: releaseSignature })).to.equal(true);
      }
      const bad: [Address, RegExp][] = [
        [typo(account.address), /^Invalid signer: mixed-case address with an invalid EIP-55 checksum/],
        [`0x${"zz".repeat(20)}`, /^Invalid signer: expected a 20-byte 0x-prefixed address/],
        [
          account.address.slice(2).padStart(42, "0") as Address,
          /^Invalid signer: expected a 20-byte 0x-prefixed address/,
        ],
      ];
      for (const [signer, message] of bad) {
        for (const verify of [
          () => verifyVoucher({ domain, voucher, signer, signature: voucherSignature }),
          () => verifyRelease({ domain, release, signer, signature: releaseSignature }),
        ]) {
          const error = await verify().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, signer).to.be.instanceOf(SettlekitInvalidInputError);
          expect((error as Error).message).to.match(message);
        }
      }
    });

    it("refuses to sign for a mistyped checksum with a local key and through a wallet client alike", async () => {
      const account = privateKeyToAccount(`0x${"42".repeat(32)}`);
      // A wallet (JSON-RPC account) that signs with the same key, as a browser wallet would.
      const requests: string[] = [];
      const request = (async ({ method, params }: { method: string; params: [Address, string] }) => {
        requests.push(method);
        if (method !== "eth_signTypedData_v4") throw new Error(`unexpected ${method}`);
        return account.signTypedData(JSON.parse(params[1]));
      }) as EIP1193RequestFn;
      const walletClient = createWalletClient({ account: account.address, transport: custom({ request }) });
      const domain = { chainId: 1, verifyingContract: getAddress(`0x${"11".repeat(20)}`) };
      const payment: Payment = {
        from: account.address,
        to: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        token: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        amount: 5n,
        fee: 1n,
        nonce: 2n,
        validAfter: 0n,
        validBefore: 3n,
        ref: `0x${"00".repeat(32)}`,
      };
      const signers = {
        "a local key": { account },
        "a wallet client": { account: account.address, walletClient },
      };
      const mistyped = { ...payment, to: typo(payment.to) };
      for (const [name, signer] of Object.entries(signers)) {
        await signPayment({ ...signer, domain, payment: mistyped }).then(
          () => expect.fail(`${name} signed a payment to a mistyped address`),
          (error) =>
            expect(error, name)
              .to.be.instanceOf(SettlekitInvalidInputError)
              .with.property("message")
              .that.matches(/^Invalid to: .*EIP-55 checksum/),
        );
      }
      expect(requests).to.deep.equal([]);
      // viem refuses it too, when asked to sign the typed data itself.
      await walletClient
        .signTypedData({
          domain: viemDomain(SETTLEMENT_HUB_DOMAIN_NAME, domain),
          types: settlekitTypes,
          primaryType: "Payment",
          message: mistyped,
        })
        .then(
          () => expect.fail("viem signed a payment to a mistyped address"),
          (error) => expect(error).to.be.instanceOf(InvalidAddressError),
        );
      // Checksummed or lower case: the same payment, the same signature on both paths.
      const expected = await signPayment({ account, domain, payment });
      for (const to of [payment.to, payment.to.toLowerCase() as Address]) {
        expect(hashPayment({ domain, payment: { ...payment, to } })).to.equal(hashPayment({ domain, payment }));
        for (const signer of Object.values(signers)) {
          expect(await signPayment({ ...signer, domain, payment: { ...payment, to } })).to.equal(expected);
        }
      }
      // All upper case carries no checksum either (EIP-55): settlekit hashes and signs it locally
      // (viem's typed-data encoder, hence a wallet client, refuses it).
      const upper = { ...payment, to: `0x${payment.to.slice(2).toUpperCase()}` as Address };
      expect(hashPayment({ domain, payment: upper })).to.equal(hashPayment({ domain, payment }));
      expect(await signPayment({ account, domain, payment: upper })).to.equal(expected);
      expect(requests).to.include("eth_signTypedData_v4");
    });

    it("asks for a wallet client when the account is only an address", async () => {
      const domain = { chainId: 1, verifyingContract: getAddress(`0x${"11".repeat(20)}`) };
      const promise = signVoucher({
        account: domain.verifyingContract,
        domain,
        voucher: { channelId: `0x${"00".repeat(32)}`, cumulativeAmount: 1n },
      });
      await promise.then(
        () => expect.fail("signed without a wallet"),
        (error) => expect(error).to.be.instanceOf(SettlekitInvalidInputError).with.property("field", "walletClient"),
      );
    });
  });
});
