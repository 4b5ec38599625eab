import type { CommandClass } from "clipanion";
import BenchCommand from "./bench.ts";
import DoctorCommand from "./doctor.ts";
import { EvalGcgCommand, EvalRefsegCommand, EvalRegcapCommand } from "./eval.ts";
import ModelsCommand from "./models.ts";
import PullCommand from "./pull.ts";
import RuntimeInstallCommand from "./runtime.ts";
import TraceCommand from "./trace.ts";

/** Every subcommand of glamm; one file per command in this folder. */
export const commands: CommandClass[] = [DoctorCommand, BenchCommand, RuntimeInstallCommand, TraceCommand, PullCommand, ModelsCommand, EvalGcgCommand, EvalRefsegCommand, EvalRegcapCommand];
