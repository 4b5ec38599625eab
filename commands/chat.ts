import { Command, Option } from "clipanion";
import { ModelCommand } from "../src/cli/model-command.ts";
import { parseChoice, parseCount } from "../src/cli/parse.ts";

export default class ChatCommand extends ModelCommand {
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
  out = Option.String("--out", "glamm-out", { description: "where each turn's overlay and JSON go" });

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
