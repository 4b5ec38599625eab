import { Command, Option } from "clipanion";
import { TaskCommand } from "../src/cli/task-command.ts";

export default class SegmentCommand extends TaskCommand {
  static paths = [["segment"]];
  static usage = Command.Usage({
    description: "referring segmentation: one mask per expression",
    examples: [
      ["Segment the man in red", 'glamm segment "man in red" photo.jpg'],
      ["Two expressions on a folder", 'glamm segment "dog" -e "red ball" photos/'],
    ],
  });
  readonly task = "segment" as const;
  expression = Option.String({ required: true, name: "expression" });
  more = Option.Array("-e,--expression", [], { description: "another expression (repeatable)" });
  images = Option.Rest({ required: 1, name: "image" });
  imageArgs = () => this.images;
  taskInput = () => ({ task: this.task, expressions: [this.expression, ...this.more] });
}
