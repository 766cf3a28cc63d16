import type { Logger } from "pino";
import type { Hex } from "viem";
import type {
  DeploymentDomain,
  EscrowPort,
  EscrowView,
  Release,
  SignatureVerifier,
  SigningPort,
} from "../chain/ports.js";
import { RelayerError } from "../errors.js";
import type { ReleaseRecord, Store } from "../store/store.js";
import type { TimeSource } from "../time.js";
import type { Gate } from "./gate.js";

/**
 * Accepts payers' signed release authorisations (EIP-712 `Release`) for relaying as
 * `releaseWithSig`. Checked before acceptance: the escrow exists, the signature is its payer's
 * (ECDSA, or ERC-1271 through a call), the authorisation stays valid long enough, and it
 * releases something beyond what is already released. The same authorisation twice is one.
 */
export class ReleaseIntake {
  readonly domain: DeploymentDomain;

  constructor(
    private readonly o: {
      escrow: EscrowPort;
      chainId: number;
      signing: SigningPort;
      verifier: SignatureVerifier;
      store: Store;
      gate: Gate;
      time: TimeSource;
      logger: Logger;
      minValiditySeconds: number;
    },
  ) {
    this.domain = { chainId: o.chainId, verifyingContract: o.escrow.address };
  }

  async submit(release: Release, signature: Hex): Promise<ReleaseRecord> {
    this.o.gate.check();
    const digest = this.o.signing.hashRelease({ domain: this.domain, release });
    const now = this.o.time.seconds();
    // A resubmission of a release accepted earlier is answered with its record even when it
    // would no longer be accepted now (too close to its deadline, the node unreachable).
    if (release.deadline <= now + BigInt(this.o.minValiditySeconds)) {
      return this.#knownOr(
        digest,
        new RelayerError("expired", `deadline ${release.deadline} leaves too little time to relay (now ${now})`),
      );
    }
    let escrow: EscrowView | null;
    try {
      escrow = await this.o.escrow.getEscrow(release.id);
    } catch (error) {
      this.o.logger.warn({ err: error, releaseDigest: digest }, "escrow read failed");
      return this.#knownOr(digest, new RelayerError("chain_unavailable", "the escrow could not be read; retry later"));
    }
    if (escrow === null) throw new RelayerError("unknown_escrow", `no escrow ${release.id}`);
    const signer = this.o.signing.recoverDigestSigner(digest, signature);
    if (signer === null || signer.toLowerCase() !== escrow.payer.toLowerCase()) {
      let valid: boolean;
      // A wallet's answer can change, and its call needs the node: a release accepted earlier is
      // answered with its record whatever the check says now.
      try {
        valid = await this.o.verifier.verifyRelease({ domain: this.domain, release, signer: escrow.payer, signature });
      } catch (error) {
        this.o.logger.warn({ err: error, releaseDigest: digest }, "ERC-1271 check failed");
        return this.#knownOr(
          digest,
          new RelayerError("chain_unavailable", "the payer's contract signature could not be checked; retry later"),
        );
      }
      if (!valid) {
        return this.#knownOr(
          digest,
          new RelayerError("invalid_signature", `not signed by the escrow's payer ${escrow.payer}`),
        );
      }
    }
    const known = await this.#stored("read", digest, () => this.o.store.getRelease(digest));
    if (known !== null) return known;
    if (release.releasedTotal <= escrow.released || escrow.remaining === 0n) {
      throw new RelayerError(
        "nothing_to_release",
        `releasedTotal ${release.releasedTotal} pays nothing (released ${escrow.released}, remaining ${escrow.remaining})`,
      );
    }
    const { record, inserted } = await this.#stored("write", digest, () =>
      this.o.store.insertRelease({
        digest,
        escrow: this.o.escrow.address,
        id: release.id,
        releasedTotal: release.releasedTotal,
        deadline: release.deadline,
        signature,
      }),
    );
    if (inserted) this.o.logger.info({ releaseDigest: digest, escrowId: release.id.toString() }, "release accepted");
    return record;
  }

  async #knownOr(digest: Hex, error: RelayerError): Promise<ReleaseRecord> {
    const known = await this.#stored("read", digest, () => this.o.store.getRelease(digest));
    if (known === null) throw error;
    return known;
  }

  /** A store call whose failure is answered `store_unavailable` (retry later), not an internal error. */
  async #stored<T>(what: "read" | "write", digest: Hex, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.o.logger.error({ err: error, releaseDigest: digest }, `store ${what} failed`);
      throw new RelayerError(
        "store_unavailable",
        what === "read" ? "the store could not be read; retry later" : "the release could not be stored; retry later",
      );
    }
  }
}
