import type { CommandClass } from "clipanion";
import BenchCommand from "./bench.ts";
import CaptionCommand from "./caption.ts";
import ChatCommand from "./chat.ts";
import DoctorCommand from "./doctor.ts";
import EditCommand from "./edit.ts";
import { EvalCaptionsCommand, EvalGcgCommand, EvalRefsegCommand, EvalRegcapCommand } from "./eval.ts";
import EvalIndexCommand from "./eval-index.ts";
import GcgCommand from "./gcg.ts";
import GroundCommand from "./ground.ts";
import ModelsCommand from "./models.ts";
import PullCommand from "./pull.ts";
import RegionCommand from "./region.ts";
import { ResultsMergeCommand, ResultsSummaryCommand } from "./results.ts";
import RuntimeInstallCommand from "./runtime.ts";
import SegmentCommand from "./segment.ts";
import TraceCommand from "./trace.ts";

/** Every subcommand of glamm; one file per command in this folder. */
export const commands: CommandClass[] = [
  GcgCommand,
  SegmentCommand,
  RegionCommand,
  CaptionCommand,
  GroundCommand,
  ChatCommand,
  EditCommand,
  DoctorCommand, BenchCommand, RuntimeInstallCommand, TraceCommand, PullCommand, ModelsCommand, EvalIndexCommand, EvalGcgCommand, EvalRefsegCommand, EvalRegcapCommand, EvalCaptionsCommand,
  ResultsMergeCommand, ResultsSummaryCommand];
