import { Command, Option } from "clipanion";
import { AttendTaskCommand } from "../src/cli/task-command.ts";

export default class GcgCommand extends AttendTaskCommand {
  static paths = [["gcg"]];
  static usage = Command.Usage({
    description: "grounded caption: a detailed caption whose phrases each come with a mask",
    details: "Writes NAME.glamm.png (overlay) and NAME.glamm.json per image under --out. IMAGE may be a file, a folder or a glob; batches resume where they stopped (results.jsonl).",
    examples: [
      ["Caption one image", "glamm gcg photo.jpg"],
      ["A folder, with official eval files and a gallery", "glamm gcg photos/ --format png,json,glamm-eval --gallery"],
    ],
  });
  readonly task = "gcg" as const;
  images = Option.Rest({ required: 1, name: "image" });
  imageArgs = () => this.images;
  taskInput = () => ({ task: this.task });
}
