import { Command, Option } from "clipanion";
import { ExitCode, usageError } from "../src/cli/errors.ts";
import { parseBox, parseChoice } from "../src/cli/parse.ts";
import { EDIT_DEFAULTS, parseEditSettings, parseSeed } from "../src/edit/edit-options.ts";

export default class EditCommand extends Command {
  static paths = [["edit"]];
  static usage = Command.Usage({
    description: "repaint a region with SDXL inpainting: GLaMM finds it from words, or give a mask or a box",
    details: `
      Usage: \`glamm edit EXPRESSION IMAGE... --prompt TEXT\` (GLaMM segments the expression; when its answer has several
      masks, --mask-from last (default) repaints the last one, as the official demo does, union all of them), or \`glamm edit IMAGE... --mask
      MASK.png --prompt TEXT\` (white = repaint, of the image's size) or \`--box x1,y1,x2,y2\`. As GLaMM's demo does it:
      centre square crop, SDXL inpainting at the model's size (20 steps, guidance 8, strength 0.99, seed 0 by default),
      feathered paste back. Writes NAME.edit.png (original size), NAME.edit-mask.png and NAME.edit.json under --out.
      --seed N draws the noise as torch.Generator("cpu").manual_seed(N) does (not the CUDA generator).
    `,
    examples: [
      ["Repaint the yacht", 'glamm edit "the yacht" harbour.jpg --prompt "a red sailing boat"'],
      ["With a mask", "glamm edit photo.png --mask mask.png --prompt 'a bowl of fruit'"],
      ["With a box", "glamm edit photo.png --box 40,60,200,220 --prompt 'a cat'"],
    ],
  });
  args = Option.Rest({ required: 1, name: "image" });
  prompt = Option.String("--prompt", { description: "what to paint in the region" });
  negativePrompt = Option.String("--negative-prompt", { description: "what not to paint (default: none, zero negative embeddings)" });
  mask = Option.String("--mask", { description: "white-on-black mask PNG of the image's size (skips GLaMM)" });
  box = Option.String("--box", { description: "x1,y1,x2,y2 in pixels: repaint this box (skips GLaMM)" });
  maskFrom = Option.String("--mask-from", "last", { description: "last (the official demo's: the answer's last mask) or union (all of them)" });
  inpaintModel = Option.String("--inpaint-model", { description: "installed model name or diffusers SDXL inpainting folder (default: the pulled sdxl-inpaint)" });
  model = Option.String("--model", { description: "GLaMM model for the expression (default: the segment task's model)" });
  vision = Option.String("--vision", { description: "GLaMM's CLIP folder (default: from its config)" });
  noise = Option.String("--noise", { description: ".npy of the pipeline's Gaussian draws [N, 1, C, h, w] in its order (instead of --seed)" });
  seed = Option.String("--seed", EDIT_DEFAULTS.seed, { description: "seed of torch's CPU generator" });
  steps = Option.String("--steps", EDIT_DEFAULTS.steps, { description: "denoising steps (before the strength cut)" });
  guidance = Option.String("--guidance", EDIT_DEFAULTS.guidance, { description: "classifier-free guidance scale" });
  strength = Option.String("--strength", EDIT_DEFAULTS.strength, { description: "how much of the region is re-noised, in (0, 1]" });
  device = Option.String("--device", { description: "auto (default, or GLAMM_DEVICE; fp16 on CUDA, fp32 on CPU), cpu or cuda" });
  out = Option.String("--out", "glamm-out", { description: "output folder" });
  json = Option.Boolean("--json", false, { description: "print one JSON line per image (the default when stdout is not a terminal)" });

  async execute(): Promise<number> {
    const settings = parseEditSettings({ prompt: this.prompt, negativePrompt: this.negativePrompt, steps: this.steps, guidance: this.guidance, strength: this.strength });
    const seed = parseSeed(this.seed);
    if (this.mask !== undefined && this.box !== undefined) throw usageError("give --mask or --box, not both");
    const from = parseChoice("--mask-from", this.maskFrom, ["union", "last"] as const);
    let images = this.args;
    let mask;
    if (this.mask !== undefined) mask = { kind: "file" as const, path: this.mask };
    else if (this.box !== undefined) mask = { kind: "box" as const, box: parseBox(this.box) };
    else {
      if (this.args.length < 2) throw usageError("glamm edit needs an EXPRESSION and an IMAGE, or an IMAGE with --mask or --box");
      mask = { kind: "glamm" as const, expression: this.args[0], from, model: this.model, vision: this.vision };
      images = this.args.slice(1);
      if (mask.expression.trim() === "") throw usageError("the expression is empty: say which region to repaint");
    }
    const { runEdit } = await import("../src/pipeline/edit-run.ts");
    const failed = await runEdit({
      ...settings,
      images,
      mask,
      inpaintModel: this.inpaintModel,
      noise: this.noise,
      seed,
      device: this.device,
      out: this.out,
      json: this.json || !(this.context.stdout as NodeJS.WriteStream).isTTY,
      stdout: this.context.stdout,
    });
    return failed > 0 ? ExitCode.input : ExitCode.ok;
  }
}
