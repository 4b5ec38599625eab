import { Command, Option } from "clipanion";
import { usageError } from "../src/cli/errors.ts";
import { parseBox, parseChoice, parseCount } from "../src/cli/parse.ts";
import { spinner } from "../src/cli/ui.ts";

export default class TraceCommand extends Command {
  static paths = [["trace"]];
  static usage = Command.Usage({
    description: "run one case through the real pipeline and write its intermediates as .npy (conformance checks)",
    details: `
      Writes every intermediate named by the trace contract (../shared/oracle/README.md) under --out, with trace.json
      listing names, shapes, dtypes, the prompt and the generated text. With --answer the answer is teacher-forced
      (one forward pass, masks for its [SEG]s); otherwise --max-tokens new tokens are generated greedily.
    `,
    examples: [
      ["Teacher-forced GCG case", "glamm trace --model ckpt/glamm --instruction '...' --answer 'A <p> cat </p> [SEG].' --out t image.png"],
      ["Region caption, greedy", "glamm trace --model ckpt/glamm --box 80,80,200,200 --instruction '... <bbox>?' --out t image.png"],
    ],
  });

  image = Option.String({ required: true, name: "image" });
  model = Option.String("--model", { description: "checkpoint folder in the official layout, or an installed model" });
  vision = Option.String("--vision", { description: "CLIP folder (default: from the checkpoint's config)" });
  instruction = Option.String("--instruction", { required: true, description: "the user's instruction" });
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

  async execute(): Promise<number> {
    const backend = parseChoice("--backend", this.backend, ["glamm", "attend"] as const);
    const { parseDevice } = await import("../src/runtime/ort.ts");
    const { writeTrace } = await import("../src/pipeline/trace-output.ts");
    const progress = spinner("tracing");
    const common = { image: this.image, instruction: this.instruction, device: parseDevice(this.device), maxTokens: parseCount("--max-tokens", this.maxTokens) };
    try {
      let trace;
      const precision = parseChoice("--precision", this.precision, ["fp32", "fp16", "int4"] as const);
      if (backend === "glamm") {
        const { runGlammTrace } = await import("../src/pipeline/glamm/trace.ts");
        trace = await runGlammTrace({ ...common, model: this.model, vision: this.vision, boxes: this.boxes.map(parseBox), answer: this.answer, precision, onProgress: progress.update });
      } else {
        const { runAttendTrace } = await import("../src/pipeline/attend/trace.ts");
        if (!this.model || !this.sam) throw usageError("--backend attend needs --model (a LLaVA-1.5 folder) and --sam (a SAM checkpoint)");
        trace = await runAttendTrace({ ...common, model: this.model, vision: this.vision, sam: this.sam, answer: this.answer, removeCorner: this.removeCorner, chunks: this.chunks, precision, onProgress: progress.update });
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
}
