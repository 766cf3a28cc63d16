import { RelayerError } from "../errors.js";

/** Whether new work is let in: closed while an operator paused the relayer or while it shuts down. */
export class Gate {
  paused = false;
  closing = false;

  /** Throws `paused` / `shutting_down` when new work must be refused. */
  check(): void {
    if (this.closing) throw new RelayerError("shutting_down", "the relayer is shutting down");
    if (this.paused) throw new RelayerError("paused", "the relayer is paused by its operator");
  }
}
