import { Command, Option } from "clipanion";
import { parseChoice, parseCount } from "../src/cli/parse.ts";

export default class ChatCommand extends Command {
  static paths = [["chat"]];
  static usage = Command.Usage({
    description: "talk about one image: multi-turn, grounded answers, an overlay saved per turn",
    details: "Reads messages line by line (a terminal or a pipe). /box x1,y1,x2,y2 adds a region for the next message, referred to as <bbox>.",
    examples: [
      ["Interactive", "glamm chat photo.jpg"],
      ["Scripted", "printf 'What is in the image?\\nWhere is the dog?\\n' | glamm chat photo.jpg --json"],
    ],
  });

  image = Option.String({ required: true, name: "image" });
  model = Option.String("--model", { description: "installed model, Hub repo id, checkpoint folder, or demo" });
  vision = Option.String("--vision", { description: "CLIP tower folder" });
  device = Option.String("--device", { description: "auto, cpu or cuda" });
  precision = Option.String("--precision", "auto", { description: "auto, fp32, fp16 or int4" });
  out = Option.String("--out", "glamm-out", { description: "where each turn's overlay and JSON go" });
  maxTokens = Option.String("--max-tokens", "512", { description: "most new tokens per answer" });
  noCache = Option.Boolean("--no-cache", false, { description: "bypass the SAM embedding cache" });
  json = Option.Boolean("--json", false, { description: "print each answer as a JSON line" });

  async execute(): Promise<number> {
    const { runChat } = await import("../src/pipeline/run-command.ts");
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
    });
    return 0;
  }
}
