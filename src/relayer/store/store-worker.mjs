// Entry of the store worker thread (see worker-store.ts): TypeScript through tsx, like the CLI.
import { register } from "tsx/esm/api";

register();
await import("./store-worker-main.ts");
