import { Command, Option } from "clipanion";
import { parseBox } from "../src/cli/parse.ts";
import { TaskCommand } from "../src/cli/task-command.ts";

export default class RegionCommand extends TaskCommand {
  static paths = [["region"]];
  static usage = Command.Usage({
    description: "region captions: describe each --box x1,y1,x2,y2 (pixels of the original image)",
    examples: [["Two regions", "glamm region photo.jpg --box 10,20,200,240 --box 300,40,420,200"]],
  });
  readonly task = "region" as const;
  boxes = Option.Array("--box", { required: true, description: "x1,y1,x2,y2 in pixels (repeatable)" });
  images = Option.Rest({ required: 1, name: "image" });
  imageArgs = () => this.images;
  taskInput = () => ({ task: this.task, boxes: this.boxes.map(parseBox) });
}
