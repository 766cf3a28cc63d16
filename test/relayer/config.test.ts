import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { inspect } from "node:util";
import { expect } from "chai";
import { encryptKeystoreJson, Wallet } from "ethers";
import { parseEther, parseGwei } from "viem";
import { decryptKeystore, loadRelayerKey } from "../../src/relayer/chain/keystore.js";
import { ConfigError, helpText, OPTIONS, PROJECT_ROOT, parseConfig } from "../../src/relayer/config.js";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

describe("relayer configuration", () => {
  const dir = mkdtempSync(join(tmpdir(), "settlekit-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("has a documented default for every option that needs one", () => {
    const config = parseConfig([], {});
    expect(config).to.deep.include({
      rpcUrl: "http://127.0.0.1:8545",
      host: "127.0.0.1",
      port: 8080,
      dataDir: join(PROJECT_ROOT, ".relayer-data"),
      batchMaxSize: 200,
      confirmations: 1,
      maxFeePerGas: parseGwei("200"),
      maxTxFee: 10n ** 18n,
      txGasCap: 16_777_216,
      logLevel: "info",
    });
    expect(config.databaseUrl).to.equal(undefined);
    expect(config.relayerKey).to.equal(undefined);
    expect(Object.isFrozen(config)).to.equal(true);
  });

  it("takes flags over environment variables over defaults", () => {
    const config = parseConfig(["--port", "9000", "--max-fee-gwei", "1.5", "--max-tx-fee-eth", "0.25"], {
      RELAYER_PORT: "7000",
      RELAYER_BATCH_MAX_SIZE: "50",
      DATABASE_URL: "postgres://relayer@127.0.0.1:5432/relayer",
      RELAYER_HUB_ADDRESS: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    });
    expect(config.port).to.equal(9000);
    expect(config.batchMaxSize).to.equal(50);
    expect(config.maxFeePerGas).to.equal(parseGwei("1.5"));
    expect(config.maxTxFee).to.equal(parseEther("0.25"));
    expect(config.databaseUrl).to.equal("postgres://relayer@127.0.0.1:5432/relayer");
    expect(config.hubAddress).to.equal("0x5FbDB2315678afecb367f032d93F642f64180aa3");
  });

  it("resolves a relative data directory against the project and keeps an absolute one", () => {
    expect(parseConfig(["--data-dir", "tmp/store"], {}).dataDir).to.equal(join(PROJECT_ROOT, "tmp/store"));
    expect(parseConfig(["--data-dir", dir], {}).dataDir).to.equal(dir);
  });

  it("lists every invalid option in one error", () => {
    expect(() =>
      parseConfig(["--port", "70000", "--rpc-url", "not a url", "--tx-gas-cap", "21000", "--max-tx-fee-eth", "lots"], {
        RELAYER_HUB_ADDRESS: "0x12",
        DATABASE_URL: "mysql://x",
      }),
    )
      .to.throw(ConfigError)
      .with.property("message")
      .that.matches(/--rpc-url/)
      .and.matches(/--port/)
      .and.matches(/--tx-gas-cap/)
      .and.matches(/--max-tx-fee-eth/)
      .and.matches(/--hub/)
      .and.matches(/--database-url/);
  });

  it("parses minimum fees per token, and refuses a malformed or repeated entry", () => {
    const native = "0x0000000000000000000000000000000000000000";
    const token = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    expect(parseConfig([], {}).minFee).to.equal(undefined);
    const config = parseConfig(["--min-fee", `${native}=100, ${token} = 7`], {});
    expect([...(config.minFee ?? [])]).to.deep.equal([
      [native, 100n],
      [token.toLowerCase(), 7n],
    ]);
    expect(parseConfig([], { RELAYER_MIN_FEE: `${token}=0` }).minFee?.get(token.toLowerCase())).to.equal(0n);
    for (const bad of [`${token}`, `${token}=1.5`, `${token}=-1`, "0x12=1", `${token}=1=2`, `${token}=1,`]) {
      expect(() => parseConfig(["--min-fee", bad], {}), bad).to.throw(ConfigError, /--min-fee.*not token=amount/);
    }
    expect(() => parseConfig(["--min-fee", `${token}=1,${token.toLowerCase()}=2`], {})).to.throw(
      ConfigError,
      /listed twice/,
    );
  });

  it("refuses unknown flags", () => {
    expect(() => parseConfig(["--bogus", "1"], {})).to.throw(ConfigError, /bogus/);
  });

  it("reads the key from RELAYER_PRIVATE_KEY and never prints it", () => {
    const config = parseConfig([], {
      RELAYER_PRIVATE_KEY: KEY.slice(2),
      RELAYER_ADMIN_TOKEN: "a-long-enough-admin-token",
    });
    expect(loadRelayerKey(config.relayerKey?.reveal() as never)).to.equal(KEY);
    const json = JSON.stringify(config, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
    const printed = `${json} ${inspect(config)} ${String(config.relayerKey)}`;
    expect(printed).to.not.contain(KEY.slice(2));
    expect(printed).to.not.contain("a-long-enough-admin-token");
    expect(config.adminToken?.reveal()).to.equal("a-long-enough-admin-token");
  });

  it("rejects a malformed key and a short admin token", () => {
    expect(() => parseConfig([], { RELAYER_PRIVATE_KEY: "0x1234" })).to.throw(ConfigError, /32 bytes/);
    expect(() => parseConfig([], { RELAYER_ADMIN_TOKEN: "short" })).to.throw(ConfigError, /16 characters/);
  });

  it("reads the admin token from a file", () => {
    const file = join(dir, "token");
    writeFileSync(file, "token-from-a-file-0123\n");
    expect(parseConfig(["--admin-token-file", file], {}).adminToken?.reveal()).to.equal("token-from-a-file-0123");
    expect(() => parseConfig(["--admin-token-file", join(dir, "missing")], {})).to.throw(ConfigError, /cannot read/);
  });

  it("decrypts the key from a v3 keystore, and refuses a wrong password", async () => {
    const wallet = new Wallet(KEY);
    const json = await encryptKeystoreJson({ address: wallet.address, privateKey: KEY }, "correct horse", {
      scrypt: { N: 1024 },
    });
    const file = join(dir, "keystore.json");
    writeFileSync(file, json);
    const config = parseConfig(["--keystore", file], { RELAYER_KEYSTORE_PASSWORD: "correct horse" });
    expect(loadRelayerKey(config.relayerKey?.reveal() as never)).to.equal(KEY);
    expect(() => decryptKeystore(json, "wrong")).to.throw(/wrong keystore password/);
    expect(() => parseConfig(["--keystore", file], {})).to.throw(ConfigError, /RELAYER_KEYSTORE_PASSWORD/);
  });

  it("documents every option, with its flag, variable and default, in --help", () => {
    const help = helpText();
    for (const option of Object.values(OPTIONS)) {
      expect(help).to.contain(`--${option.flag}`);
      expect(help).to.contain(option.env);
      if ("default" in option) expect(help).to.contain(`default: ${option.default}`);
    }
    expect(help).to.contain("RELAYER_PRIVATE_KEY");
  });
});
