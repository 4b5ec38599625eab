import { Chalk } from "chalk";
import type { Ora } from "ora";

/** Colours and spinners only on a terminal; NO_COLOR (any value) turns colours off. */
export const stderrIsTty = (): boolean => Boolean(process.stderr.isTTY);
export const colorEnabled = (stream: NodeJS.WriteStream = process.stdout): boolean =>
  Boolean(stream.isTTY) && process.env.NO_COLOR === undefined && process.env.TERM !== "dumb";

export const color = new Chalk({ level: colorEnabled() ? 1 : 0 });
export const colorErr = new Chalk({ level: colorEnabled(process.stderr) ? 1 : 0 });

/** A one-line message on stderr that is not an error. */
export function notice(message: string): void {
  process.stderr.write(`${colorErr.yellow("glamm:")} ${message}\n`);
}

export interface Spinner {
  update(text: string): void;
  stop(): void;
}

/**
 * A spinner on a TTY (ora, loaded on first use so start-up stays fast); a plain line on stderr otherwise, so logs of
 * scripted runs stay readable.
 */
export function spinner(text: string): Spinner {
  // A terminal that reports no width (some pseudo-terminals) would make ora redraw without end.
  if (!stderrIsTty() || !(process.stderr.columns > 0)) {
    process.stderr.write(`${text}\n`);
    return { update: () => {}, stop: () => {} };
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
