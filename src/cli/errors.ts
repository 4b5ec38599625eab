/** Exit codes documented in the README. */
export const ExitCode = {
  ok: 0,
  usage: 1,
  input: 2,
  model: 3,
  runtime: 4,
  /** Stopped by Ctrl-C (128 + SIGINT), as shells report it. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the user can act on: printed as one line, never with a stack trace (unless GLAMM_DEBUG=1). */
export class GlammError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.runtime,
  ) {
    super(message);
    this.name = "GlammError";
  }
}

export const inputError = (message: string) => new GlammError(message, ExitCode.input);
export const modelError = (message: string) => new GlammError(message, ExitCode.model);
export const runtimeError = (message: string) => new GlammError(message, ExitCode.runtime);
export const usageError = (message: string) => new GlammError(message, ExitCode.usage);
