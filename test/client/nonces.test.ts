import { describe, it } from "node:test";
import { expect } from "chai";
import fc from "fast-check";
import { createNonceManager, SettlekitInvalidInputError } from "../../src/client/index.js";

const owner = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

describe("createNonceManager", () => {
  it("hands out nonces in order within the starting word", async () => {
    const nonces = createNonceManager({ owner, wordPos: 3n });
    const taken = [await nonces.next(), await nonces.next(), await nonces.next()];
    expect(taken).to.deep.equal([768n, 769n, 770n]);
    expect(nonces.currentWord()).to.equal(3n);
  });

  it("skips nonces the chain reports used and nonces marked used", async () => {
    const used = new Set([0n, 1n, 3n]);
    const asked: bigint[] = [];
    const nonces = createNonceManager({
      owner,
      source: {
        isUsed: async (nonce) => {
          asked.push(nonce);
          return used.has(nonce);
        },
      },
    });
    nonces.markUsed(4n);
    expect(await nonces.next()).to.equal(2n);
    expect(await nonces.next()).to.equal(5n);
    // The marked nonce is skipped without asking the chain.
    expect(asked).to.deep.equal([0n, 1n, 2n, 3n, 5n]);
  });

  it("reads a whole bitmap word once when the source offers words", async () => {
    const reads: bigint[] = [];
    const nonces = createNonceManager({
      owner,
      source: {
        readWord: async (wordPos) => {
          reads.push(wordPos);
          return wordPos === 0n ? (1n << 255n) - 1n : 0b101n; // word 0: all but the last nonce used
        },
      },
    });
    expect(await nonces.next()).to.equal(255n);
    expect(await nonces.next()).to.equal(257n);
    expect(await nonces.next()).to.equal(259n);
    expect(reads).to.deep.equal([0n, 1n]);
  });

  it("moves to the next word only when the current one is exhausted", async () => {
    const nonces = createNonceManager({ owner });
    for (let i = 0n; i < 256n; i++) expect(await nonces.next()).to.equal(i);
    expect(nonces.currentWord()).to.equal(0n);
    expect(await nonces.next()).to.equal(256n);
    expect(nonces.currentWord()).to.equal(1n);
  });

  it("never hands out a nonce twice to concurrent callers", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(40), { maxLength: 20 }),
        fc.integer({ min: 1, max: 60 }),
        async (usedList, n) => {
          const used = new Set(usedList.map(BigInt));
          const nonces = createNonceManager({
            owner,
            source: {
              isUsed: async (nonce) => {
                await new Promise((resolve) => setImmediate(resolve));
                return used.has(nonce);
              },
            },
          });
          const taken = await Promise.all(Array.from({ length: n }, () => nonces.next()));
          expect(new Set(taken).size).to.equal(n);
          for (const nonce of taken) expect(used.has(nonce)).to.equal(false);
          // In order: the smallest free nonces, ascending.
          const expected: bigint[] = [];
          for (let candidate = 0n; expected.length < n; candidate++) if (!used.has(candidate)) expected.push(candidate);
          expect(taken).to.deep.equal(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("keeps serving after a source failure", async () => {
    let fail = true;
    const nonces = createNonceManager({
      owner,
      source: {
        isUsed: async () => {
          if (fail) throw new Error("rpc down");
          return false;
        },
      },
    });
    await nonces.next().then(
      () => expect.fail("resolved despite the failing source"),
      (error: Error) => expect(error.message).to.equal("rpc down"),
    );
    fail = false;
    // Nonce 0 was never confirmed free; it is not handed out blindly, the manager moves on.
    expect(await nonces.next()).to.equal(1n);
  });

  it("skips nonces reserved off-chain (accepted by the relayer, not yet settled), in any word", async () => {
    // Before a reload: three intents signed and accepted by the relayer, none settled yet.
    const before = createNonceManager({ owner });
    const pending = [await before.next(), await before.next(), await before.next()];
    // After it: the chain has seen none of them, so only the reservation keeps them out.
    const asked: bigint[] = [];
    const after = createNonceManager({
      owner,
      reserved: new Set([...pending, 5n, 257n]),
      source: {
        isUsed: async (nonce) => {
          asked.push(nonce);
          return nonce === 4n; // settled through another device
        },
      },
    });
    expect(await after.next()).to.equal(3n);
    expect(await after.next()).to.equal(6n);
    // Reserved nonces are skipped without asking the chain.
    expect(asked).to.deep.equal([3n, 4n, 6n]);
    let nonce = 0n;
    while (nonce < 255n) nonce = await after.next();
    expect(await after.next()).to.equal(256n);
    expect(await after.next()).to.equal(258n);
  });

  it("rejects reserved nonces that are not bigints ≥ 0", () => {
    for (const reserved of [[-1n], [1 as unknown as bigint]]) {
      expect(() => createNonceManager({ owner, reserved }))
        .to.throw(SettlekitInvalidInputError)
        .with.property("field", "reserved");
    }
  });

  it("rejects word positions outside the nonce space", () => {
    expect(() => createNonceManager({ owner, wordPos: 1n << 248n }))
      .to.throw(SettlekitInvalidInputError)
      .with.property("field", "wordPos");
  });
});
