import { Chalk } from "chalk";
import ora, { type Ora } from "ora";

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

/** A spinner on a TTY; a plain line on stderr otherwise, so logs of scripted runs stay readable. */
export function spinner(text: string): Pick<Ora, "succeed" | "fail" | "stop"> & { update(text: string): void } {
  if (!stderrIsTty()) {
    process.stderr.write(`${text}\n`);
    return { succeed: () => undefined as never, fail: () => undefined as never, stop: () => undefined as never, update: () => {} };
  }
  const s = ora({ text, stream: process.stderr, color: colorEnabled(process.stderr) ? "cyan" : undefined }).start();
  return { succeed: (t) => s.succeed(t), fail: (t) => s.fail(t), stop: () => s.stop(), update: (t) => (s.text = t) };
}
