import { Builtins, Cli } from "clipanion";
import { commands } from "../../commands/index.ts";
import { ExitCode, GlammError } from "./errors.ts";
import { version } from "../version.ts";

export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: "glamm", binaryName: "glamm", binaryVersion: version, enableColors: false });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of commands) cli.register(command);
  return cli;
}

/** Runs the CLI; errors become one line on stderr and a documented exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const cli = buildCli();
  try {
    const command = cli.process(argv);
    return (await cli.run(command)) ?? ExitCode.ok;
  } catch (error) {
    return reportError(error);
  }
}

export function reportError(error: unknown): number {
  if (process.env.GLAMM_DEBUG === "1" && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  if (error instanceof GlammError) {
    process.stderr.write(`glamm: ${error.message}\n`);
    return error.exitCode;
  }
  const name = error instanceof Error ? error.constructor.name : "";
  if (/^(Usage|Unknown|Ambiguous)/.test(name) || (error as { clipanion?: unknown })?.clipanion) {
    process.stderr.write(`glamm: ${(error as Error).message.split("\n")[0]}\n`);
    return ExitCode.usage;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`glamm: internal error: ${message.split("\n")[0]} (GLAMM_DEBUG=1 shows the stack)\n`);
  return ExitCode.runtime;
}
