import { type Logger, pino } from "pino";

/**
 * JSON logs (pino). Ids go on every line (`intentDigest`, `batchId`, `txHash`); keys, passwords,
 * tokens and signatures never do: they are redacted wherever they would appear.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "settlekit-relayer" },
      redact: {
        paths: [
          "signature",
          "*.signature",
          "privateKey",
          "*.privateKey",
          "password",
          "*.password",
          "adminToken",
          "*.adminToken",
          "req.headers.authorization",
          "headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    destination as pino.DestinationStream | undefined,
  );
}
