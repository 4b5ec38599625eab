import { Builtins, Cli } from "clipanion";
import { commands } from "../../commands/index.ts";
import { ExitCode, GlammError } from "./errors.ts";
import { fsError } from "./fs-error.ts";
import { version } from "../version.ts";

/** Clipanion prints failures itself (on stdout, with stacks); glamm reports them as one line on stderr instead. */
class GlammCli extends Cli {
  failureCode: number | undefined;

  error(error: unknown): string {
    this.failureCode = reportError(error);
    return "";
  }
}

export function buildCli(): GlammCli {
  const cli = new GlammCli({ binaryLabel: "glamm", binaryName: "glamm", binaryVersion: version, enableColors: false });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of commands) cli.register(command);
  return cli;
}

/** Runs the CLI; errors become one line on stderr and a documented exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const cli = buildCli();
  const code = await cli.run(argv);
  return cli.failureCode ?? code;
}

/** Writes one line for the error (plus its stack when GLAMM_DEBUG=1) and returns the exit code it maps to. */
export function reportError(error: unknown): number {
  if (process.env.GLAMM_DEBUG === "1" && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  if (error instanceof GlammError) {
    process.stderr.write(`glamm: ${error.message}\n`);
    return error.exitCode;
  }
  const clipanion = (error as { clipanion?: { type: string } } | undefined)?.clipanion;
  if (clipanion) {
    const message = clipanion.type === "none" ? "unrecognised command or options" : (error as Error).message.split("\n")[0];
    process.stderr.write(`glamm: ${message} (glamm --help lists commands, glamm COMMAND --help their options)\n`);
    return ExitCode.usage;
  }
  const fileProblem = fsError(error);
  if (fileProblem) return reportError(fileProblem);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`glamm: internal error: ${message.split("\n")[0]} (GLAMM_DEBUG=1 shows the stack)\n`);
  return ExitCode.runtime;
}
