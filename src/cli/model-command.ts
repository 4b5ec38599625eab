import { Command, Option } from "clipanion";
import { parseCount } from "./parse.ts";

/** Options of every command that runs a GLaMM model: which model, on which device, at which precision. */
export abstract class ModelCommand extends Command {
  model = Option.String("--model", { description: "installed model name, Hub repo id, checkpoint folder, or `demo` (default: the task's pulled model, else the demo)" });
  vision = Option.String("--vision", { description: "CLIP tower folder, or DiffLMM's Stable Diffusion folder (default: from the checkpoint's config)" });
  device = Option.String("--device", { description: "auto (default, or GLAMM_DEVICE), cpu or cuda" });
  precision = Option.String("--precision", "auto", { description: "auto (fp16 on CUDA, int4 on CPU), fp32, fp16 or int4" });
  maxTokens = Option.String("--max-tokens", "512", { description: "most new tokens per answer" });
  noCache = Option.Boolean("--no-cache", false, { description: "do not read or write the SAM embedding cache" });
  json = Option.Boolean("--json", false, { description: "print results as JSON lines (the default when stdout is not a terminal)" });
  modelBase = Option.String("--model-base", { description: "attend, DiffLMM: base LLM folder under the LoRA --model (default: from adapter_config.json)" });
  clip = Option.String("--clip", { description: "attend, DiffLMM: CLIP folder (default: the config's mm_vision_sd_clip)" });
  noise = Option.String("--noise", { description: "attend, DiffLMM: .npy of the diffusion encoder's two Gaussian draws [2, ensemble, C, h, w]" });
  noiseSeed = Option.String("--noise-seed", { description: "attend, DiffLMM: seed of those draws when --noise is not given (default 0; reported in the JSON)" });

  /** The DiffLMM options (ignored for other models). */
  difflmmOptions() {
    return { modelBase: this.modelBase, clip: this.clip, noise: this.noise, noiseSeed: this.noiseSeed === undefined ? undefined : parseCount("--noise-seed", this.noiseSeed, 0) };
  }
}
