import { Builtins, Cli } from "clipanion";
import { commands } from "../../commands/index.ts";
import { ExitCode, GlammError, inputError, usageError } from "./errors.ts";
import { bindNegativeValues, diagnoseUsage, helpText } from "./usage.ts";
import { fsError } from "./fs-error.ts";
import { version } from "../version.ts";

/** Clipanion prints failures itself (on stdout, with stacks); glamm reports them as one line on stderr instead. */
class GlammCli extends Cli {
  failureCode: number | undefined;
  argv: string[] = [];

  error(error: unknown): string {
    const clipanion = (error as { clipanion?: unknown } | undefined)?.clipanion;
    const diagnosis = clipanion ? diagnoseUsage(this.argv, this.definitions()) : undefined;
    this.failureCode = reportError(diagnosis ? usageError(diagnosis) : error);
    return "";
  }

  usage(...args: Parameters<Cli["usage"]>): string {
    return helpText(super.usage(...args), this.definitions());
  }
}

export function buildCli(): GlammCli {
  const cli = new GlammCli({ binaryLabel: "glamm", binaryName: "glamm", binaryVersion: version, enableColors: false });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of commands) cli.register(command);
  return cli;
}

/** Longest command line (bytes) glamm accepts: ONNX Runtime's session creation crashes on one of about 28 KiB. */
export const MAX_COMMAND_LINE_BYTES = 24 * 1024;

/** Refuses a command line too long to run safely, naming its longest argument (or the option that takes it). */
function checkCommandLineLength(argv: readonly string[]): void {
  const bytes = argv.reduce((sum, arg) => sum + Buffer.byteLength(arg) + 1, 0);
  if (bytes <= MAX_COMMAND_LINE_BYTES) return;
  const longest = argv.reduce((best, arg, i) => (arg.length > argv[best].length ? i : best), 0);
  const previous = argv[longest - 1];
  const name = previous?.startsWith("-") && !argv[longest].startsWith("-") ? previous : `argument ${longest + 1}`;
  throw inputError(`${name} is ${argv[longest].length} characters: glamm takes a command line of at most ${MAX_COMMAND_LINE_BYTES} bytes (got ${bytes})`);
}

/** Runs the CLI; errors become one line on stderr and a documented exit code. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    checkCommandLineLength(argv);
  } catch (error) {
    return reportError(error);
  }
  const cli = buildCli();
  // `glamm eval --help`: the command named exactly, not clipanion's menu of every command under that path.
  const help = argv.length > 1 && ["-h", "--help"].includes(argv[argv.length - 1]) ? commands.find((c) => c.paths?.some((p) => p.join(" ") === argv.slice(0, -1).join(" "))) : undefined;
  if (help) {
    process.stdout.write(cli.usage(help, { detailed: true }));
    return ExitCode.ok;
  }
  cli.argv = bindNegativeValues(argv, cli.definitions());
  const code = await cli.run(cli.argv);
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
    const message = clipanion.type === "none" ? "unrecognised command or options" : (error as Error).message.split("\n")[0].replace(/\.$/, "");
    process.stderr.write(`glamm: ${message} (glamm --help lists commands, glamm COMMAND --help their options)\n`);
    return ExitCode.usage;
  }
  const fileProblem = fsError(error);
  if (fileProblem) return reportError(fileProblem);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`glamm: internal error: ${message.split("\n")[0]} (GLAMM_DEBUG=1 shows the stack)\n`);
  return ExitCode.runtime;
}
