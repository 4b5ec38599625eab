import { Command, Option } from "clipanion";
import { ModelCommand } from "../src/cli/model-command.ts";
import { usageError } from "../src/cli/errors.ts";
import { parseChoice, parseCount } from "../src/cli/parse.ts";

export default class ChatCommand extends ModelCommand {
  static paths = [["chat"]];
  static usage = Command.Usage({
    description: "talk about one image: multi-turn, grounded answers, an overlay saved per turn",
    details: "Reads messages line by line (a terminal or a pipe). /box x1,y1,x2,y2 adds a region for the next message, referred to as <bbox> (GLaMM backend only). /edit PROMPT repaints the last answer's last mask (as the demo's Generate) with SDXL inpainting (as `glamm edit`, seed 0), saved as NAME.editN.png.",
    examples: [
      ["Interactive", "glamm chat photo.jpg"],
      ["Scripted", "printf 'What is in the image?\\nWhere is the dog?\\n' | glamm chat photo.jpg --json"],
      ["Attend-and-segment on LLaVA-1.5", "glamm chat photo.jpg --backend attend --model llava-v1.5-7b --heatmaps"],
    ],
  });

  image = Option.String({ required: true, name: "image" });
  out = Option.String("--out", "glamm-out", { description: "where each turn's overlay and JSON go" });
  backend = Option.String("--backend", "glamm", { description: "glamm, or attend (attend-and-segment on LLaVA-1.5; no /box)" });
  sam = Option.String("--sam", { description: "attend: SAM checkpoint (.pth or Hugging Face folder; default: pulled sam-vit-h, or the built-in demo's with the demo LLaVA)" });
  removeCorner = Option.Boolean("--remove-corner", false, { description: "attend: blank the four corner cells of every map (official option)" });
  minScore = Option.String("--min-score", { description: "attend: drop phrases whose SAM score is below this" });
  heatmaps = Option.Boolean("--heatmaps", false, { description: "attend: write each phrase's attention heatmap (PNG, and the raw map in the JSON)" });
  inpaintModel = Option.String("--inpaint-model", { description: "/edit: SDXL inpainting model name or diffusers folder (default: the pulled sdxl-inpaint)" });

  async execute(): Promise<number> {
    const { runChat } = await import("../src/pipeline/run-command.ts");
    const { chatEditor } = await import("../src/pipeline/edit-run.ts");
    const backend = parseChoice("--backend", this.backend, ["glamm", "attend"] as const);
    const minScore = this.minScore === undefined ? undefined : Number(this.minScore);
    if (minScore !== undefined && !Number.isFinite(minScore)) throw usageError(`--min-score must be a number, got "${this.minScore}"`);
    await runChat({
      image: this.image,
      model: this.model,
      vision: this.vision,
      device: this.device,
      precision: parseChoice("--precision", this.precision, ["auto", "fp32", "fp16", "int4"] as const),
      out: this.out,
      maxTokens: parseCount("--max-tokens", this.maxTokens, 1),
      cache: !this.noCache,
      json: this.json || !(this.context.stdout as NodeJS.WriteStream).isTTY,
      stdout: this.context.stdout,
      stdin: this.context.stdin,
      editor: (image, stem) => chatEditor({ inpaintModel: this.inpaintModel, device: this.device, image, stem }),
      attend: backend === "attend" ? { sam: this.sam, removeCorner: this.removeCorner, minScore, heatmaps: this.heatmaps, difflmm: this.difflmmOptions() } : undefined,
    });
    return 0;
  }
}
