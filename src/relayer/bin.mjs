#!/usr/bin/env node
// The `settlekit-relayer` command (and `npm start`): loads the TypeScript sources through tsx.
import { register } from "tsx/esm/api";

register();
const { run } = await import("./cli.ts");
process.exitCode = await run(process.argv.slice(2), process.env);
