import { Command, Option } from "clipanion";

/** Options of every command that runs a GLaMM model: which model, on which device, at which precision. */
export abstract class ModelCommand extends Command {
  model = Option.String("--model", { description: "installed model name, Hub repo id, checkpoint folder, or `demo` (default: the task's pulled model, else the demo)" });
  vision = Option.String("--vision", { description: "CLIP tower folder (default: from the checkpoint's config)" });
  device = Option.String("--device", { description: "auto (default, or GLAMM_DEVICE), cpu or cuda" });
  precision = Option.String("--precision", "auto", { description: "auto (fp16 on CUDA, int4 on CPU), fp32, fp16 or int4" });
  maxTokens = Option.String("--max-tokens", "512", { description: "most new tokens per answer" });
  noCache = Option.Boolean("--no-cache", false, { description: "do not read or write the SAM embedding cache" });
  json = Option.Boolean("--json", false, { description: "print results as JSON lines (the default when stdout is not a terminal)" });
}
