import { Command, Option } from "clipanion";
import { AttendTaskCommand } from "../src/cli/task-command.ts";

export default class CaptionCommand extends AttendTaskCommand {
  static paths = [["caption"]];
  static usage = Command.Usage({
    description: "a detailed caption of the image (no masks)",
    examples: [["Caption a folder", "glamm caption photos/"]],
  });
  readonly task = "caption" as const;
  images = Option.Rest({ required: 1, name: "image" });
  imageArgs = () => this.images;
  taskInput = () => ({ task: this.task });
}
