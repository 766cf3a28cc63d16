import { createDecipheriv, pbkdf2Sync, scryptSync, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { bytesToHex, concat, type Hex, hexToBytes, keccak256 } from "viem";
import type { KeySource } from "../config.js";

interface KeystoreV3 {
  version: number;
  crypto?: KeystoreCrypto;
  Crypto?: KeystoreCrypto;
}
interface KeystoreCrypto {
  cipher: string;
  cipherparams: { iv: string };
  ciphertext: string;
  kdf: "scrypt" | "pbkdf2";
  kdfparams: { dklen: number; salt: string; n?: number; r?: number; p?: number; c?: number; prf?: string };
  mac: string;
}

const hex = (value: string): Uint8Array => hexToBytes((value.startsWith("0x") ? value : `0x${value}`) as Hex);

/**
 * Decrypts a Web3 Secret Storage (v3) keystore — the JSON files geth, ethers, foundry's `cast
 * wallet` and clef write — with scrypt or PBKDF2 key derivation and AES-128-CTR.
 */
export function decryptKeystore(json: string, password: string): Hex {
  const keystore = JSON.parse(json) as KeystoreV3;
  const crypto = keystore.crypto ?? keystore.Crypto;
  if (keystore.version !== 3 || crypto === undefined) throw new Error("not a v3 keystore");
  if (crypto.cipher !== "aes-128-ctr") throw new Error(`unsupported keystore cipher ${crypto.cipher}`);
  const params = crypto.kdfparams;
  const salt = hex(params.salt);
  let derived: Uint8Array;
  if (crypto.kdf === "scrypt") {
    const { n = 0, r = 0, p = 0 } = params;
    derived = scryptSync(password, salt, params.dklen, { N: n, r, p, maxmem: 256 * n * r + 1_048_576 });
  } else if (crypto.kdf === "pbkdf2") {
    if (params.prf !== "hmac-sha256") throw new Error(`unsupported keystore prf ${params.prf}`);
    derived = pbkdf2Sync(password, salt, params.c ?? 0, params.dklen, "sha256");
  } else throw new Error(`unsupported keystore kdf ${crypto.kdf as string}`);
  const ciphertext = hex(crypto.ciphertext);
  const mac = hexToBytes(keccak256(concat([derived.slice(16, 32), ciphertext])));
  const expected = hex(crypto.mac);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) throw new Error("wrong keystore password");
  const decipher = createDecipheriv("aes-128-ctr", derived.slice(0, 16), hex(crypto.cipherparams.iv));
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  return bytesToHex(key);
}

/** The relayer's private key from its configured source. */
export function loadRelayerKey(source: KeySource): Hex {
  if (source.kind === "env") return source.privateKey;
  return decryptKeystore(readFileSync(source.path, "utf8"), source.password);
}
