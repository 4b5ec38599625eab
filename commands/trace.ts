import { join } from "node:path";
import { Command, Option } from "clipanion";
import { EDIT_DEFAULTS, parseEditSettings, parseSeed } from "../src/edit/edit-options.ts";
import { usageError } from "../src/cli/errors.ts";
import { parseBox, parseChoice, parseCount } from "../src/cli/parse.ts";
import { spinner } from "../src/cli/ui.ts";

export default class TraceCommand extends Command {
  static paths = [["trace"]];
  static usage = Command.Usage({
    description: "run one case through the real pipeline and write its intermediates as .npy (conformance checks)",
    details: `
      Writes every intermediate named by the trace contract of the conformance tests (README, Development) under --out, with trace.json
      listing names, shapes, dtypes, the prompt and the generated text. With --answer the answer is teacher-forced
      (one forward pass, masks for its [SEG]s); otherwise --max-tokens new tokens are generated greedily.
    `,
    examples: [
      ["Teacher-forced GCG case", "glamm trace --model ckpt/glamm --instruction '...' --answer 'A <p> cat </p> [SEG].' --out t image.png"],
      ["Region caption, greedy", "glamm trace --model ckpt/glamm --box 80,80,200,200 --instruction '... <bbox>?' --out t image.png"],
      ["SDXL inpainting edit", "glamm trace --task edit --model sdxl-inpaint/ --mask mask.png --noise noise.npy --prompt 'a red apple' --out t image.png"],
    ],
  });

  image = Option.String({ required: true, name: "image" });
  model = Option.String("--model", { description: "checkpoint folder in the official layout, or an installed model" });
  vision = Option.String("--vision", { description: "CLIP folder, or DiffLMM's Stable Diffusion folder (default: from the checkpoint's config)" });
  task = Option.String("--task", { description: "edit: the SDXL inpainting edit (needs --prompt and --mask; --model is the diffusers folder)" });
  instruction = Option.String("--instruction", { description: "the user's instruction (glamm and attend backends)" });
  boxes = Option.Array("--box", [], { description: "x1,y1,x2,y2 in pixels (repeatable)" });
  answer = Option.String("--answer", { description: "teacher-forced answer" });
  maxTokens = Option.String("--max-tokens", "16", { description: "new tokens when generating" });
  out = Option.String("--out", { required: true, description: "output folder" });
  backend = Option.String("--backend", "glamm", { description: "glamm or attend" });
  device = Option.String("--device", "cpu", { description: "auto, cpu or cuda (default cpu: traces are fp32 references)" });
  precision = Option.String("--precision", "fp32", { description: "fp32, fp16 or int4" });
  sam = Option.String("--sam", { description: "attend backend: SAM checkpoint (.pth, or Hugging Face SamModel folder)" });
  removeCorner = Option.Boolean("--remove-corner", false, { description: "attend backend: the official --remove-corner" });
  chunks = Option.String("--chunks", { description: "attend backend: JSON phrase root spans replacing the extractor" });
  modelBase = Option.String("--model-base", { description: "attend backend, DiffLMM: the base LLM folder under the LoRA --model" });
  clip = Option.String("--clip", { description: "attend backend, DiffLMM: CLIP folder (default: the config's mm_vision_sd_clip)" });
  noise = Option.String("--noise", { description: "DiffLMM: .npy of the two Gaussian draws [2, ensemble, C, h, w]; edit: the pipeline's draws [N, 1, C, h, w]" });
  prompt = Option.String("--prompt", { description: "edit: what to paint in the masked region" });
  negativePrompt = Option.String("--negative-prompt", { description: "edit: negative prompt (default: zero negative embeddings)" });
  mask = Option.String("--mask", { description: "edit: white-on-black mask PNG of the image's size" });
  steps = Option.String("--steps", EDIT_DEFAULTS.steps, { description: "edit: denoising steps before the strength cut" });
  guidance = Option.String("--guidance", EDIT_DEFAULTS.guidance, { description: "edit: classifier-free guidance scale" });
  strength = Option.String("--strength", EDIT_DEFAULTS.strength, { description: "edit: strength" });
  seed = Option.String("--seed", EDIT_DEFAULTS.seed, { description: "edit: torch CPU generator seed when --noise is not given" });
  noiseSeed = Option.String("--noise-seed", { description: "attend backend, DiffLMM: seed of the Gaussian draws when --noise is not given (default 0)" });

  async execute(): Promise<number> {
    if (this.task !== undefined) return this.traceEdit(parseChoice("--task", this.task, ["edit"] as const));
    if (this.instruction === undefined) throw usageError("--instruction is required (or --task edit)");
    const backend = parseChoice("--backend", this.backend, ["glamm", "attend"] as const);
    const { parseDevice } = await import("../src/runtime/ort.ts");
    const { writeTrace } = await import("../src/pipeline/trace-output.ts");
    const progress = spinner("tracing");
    const common = { image: this.image, instruction: this.instruction as string, device: parseDevice(this.device), maxTokens: parseCount("--max-tokens", this.maxTokens) };
    try {
      let trace;
      const precision = parseChoice("--precision", this.precision, ["fp32", "fp16", "int4"] as const);
      if (backend === "glamm") {
        const { runGlammTrace } = await import("../src/pipeline/glamm/trace.ts");
        trace = await runGlammTrace({ ...common, model: this.model, vision: this.vision, boxes: this.boxes.map(parseBox), answer: this.answer, precision, onProgress: progress.update });
      } else {
        const { runAttendTrace } = await import("../src/pipeline/attend/trace.ts");
        if (!this.model || !this.sam) throw usageError("--backend attend needs --model (a LLaVA-1.5 or DiffLMM folder) and --sam (a SAM checkpoint)");
        const difflmm = { modelBase: this.modelBase, clip: this.clip, noise: this.noise, noiseSeed: this.noiseSeed === undefined ? undefined : parseCount("--noise-seed", this.noiseSeed, 0) };
        trace = await runAttendTrace({ ...common, model: this.model, vision: this.vision, sam: this.sam, answer: this.answer, removeCorner: this.removeCorner, chunks: this.chunks, difflmm, precision, onProgress: progress.update });
      }
      writeTrace(this.out, trace);
      progress.stop();
      this.context.stdout.write(`wrote ${trace.arrays.size} arrays and trace.json to ${this.out}\n`);
      return 0;
    } catch (error) {
      progress.stop();
      throw error;
    }
  }

  private async traceEdit(_task: "edit"): Promise<number> {
    if (!this.model) throw usageError("--task edit needs --model (a diffusers SDXL inpainting folder)");
    if (!this.mask) throw usageError("--task edit needs --mask (white-on-black PNG of the image's size)");
    const settings = parseEditSettings({ prompt: this.prompt, negativePrompt: this.negativePrompt, steps: this.steps, guidance: this.guidance, strength: this.strength });
    const { parseDevice } = await import("../src/runtime/ort.ts");
    const { writeTrace } = await import("../src/pipeline/trace-output.ts");
    const { runEditTrace } = await import("../src/pipeline/edit-trace.ts");
    const { writeFileAtomic } = await import("../src/output/atomic.ts");
    const progress = spinner("tracing edit");
    try {
      const trace = await runEditTrace({ ...settings, model: this.model, image: this.image, mask: this.mask, noise: this.noise, seed: parseSeed(this.seed), device: parseDevice(this.device), onProgress: progress.update });
      writeTrace(this.out, trace);
      writeFileAtomic(join(this.out, "result.png"), trace.png);
      progress.stop();
      this.context.stdout.write(`wrote ${trace.arrays.size} arrays, result.png and trace.json to ${this.out}\n`);
      return 0;
    } catch (error) {
      progress.stop();
      throw error;
    }
  }
}
