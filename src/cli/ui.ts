import { Chalk } from "chalk";
import type { Ora } from "ora";

/** Colours and spinners only on a terminal; NO_COLOR (any value) turns colours off. */
export const stderrIsTty = (): boolean => Boolean(process.stderr.isTTY);
export const colorEnabled = (stream: NodeJS.WriteStream = process.stdout): boolean =>
  Boolean(stream.isTTY) && process.env.NO_COLOR === undefined && process.env.TERM !== "dumb";

export const color = new Chalk({ level: colorEnabled() ? 1 : 0 });
export const colorErr = new Chalk({ level: colorEnabled(process.stderr) ? 1 : 0 });

/**
 * Text safe to print on a terminal: control characters (C0 except newline and tab, DEL, C1), which a random-weight
 * model can produce and which would move the cursor or switch character sets, are shown as \xNN escapes.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * An answer streamed dimmed on stderr while it is generated, erased again before its final (grounded, coloured) form
 * is printed, so each answer shows once. Streams only when stderr is a terminal that reports its width.
 */
export function streamedDraft(): { write(text: string): void; erase(): void } {
  const columns = process.stderr.columns;
  if (!stderrIsTty() || !(columns > 0)) return { write: () => {}, erase: () => {} };
  let shown = "";
  return {
    write: (text) => {
      const safe = printable(text);
      shown += safe;
      process.stderr.write(colorErr.dim(safe));
    },
    erase: () => {
      if (!shown) return;
      const rows = shown.split("\n").reduce((sum, line) => sum + Math.max(1, Math.ceil([...line].length / columns)), 0);
      process.stderr.write(`\r${rows > 1 ? `\x1b[${rows - 1}A` : ""}\x1b[J`);
      shown = "";
    },
  };
}

/** A one-line message on stderr that is not an error. */
export function notice(message: string): void {
  process.stderr.write(`${colorErr.yellow("glamm:")} ${message}\n`);
}

export interface Spinner {
  update(text: string): void;
  stop(): void;
}

/**
 * A spinner on a TTY (ora, loaded on first use so start-up stays fast); otherwise plain lines on stderr, one per new
 * text (callers send stage changes and progress every few seconds, e.g. a conversion's bytes, rate and ETA), so logs
 * of scripted runs stay readable and still show a long first-run conversion moving.
 */
export function spinner(text: string): Spinner {
  // A terminal that reports no width (some pseudo-terminals) would make ora redraw without end.
  if (!stderrIsTty() || !(process.stderr.columns > 0)) {
    let last = text;
    process.stderr.write(`${text}\n`);
    const update = (t: string) => {
      if (t !== last) process.stderr.write(`${t}\n`);
      last = t;
    };
    return { update, stop: () => {} };
  }
  let current = text;
  let stopped = false;
  let live: Ora | undefined;
  void import("ora").then(({ default: ora }) => {
    if (stopped) return;
    live = ora({ text: current, stream: process.stderr, color: colorEnabled(process.stderr) ? "cyan" : undefined }).start();
  });
  return {
    update: (t) => {
      current = t;
      if (live) live.text = t;
    },
    stop: () => {
      stopped = true;
      live?.stop();
    },
  };
}
