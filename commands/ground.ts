import { Command, Option } from "clipanion";
import { checkGroundText } from "../src/cli/parse.ts";
import { AttendTaskCommand } from "../src/cli/task-command.ts";

export default class GroundCommand extends AttendTaskCommand {
  static paths = [["ground"]];
  static usage = Command.Usage({
    description: "phrase grounding: masks for the <p>phrases</p> of a given text",
    details: "The text is teacher-forced after the official GCG prompt; a [SEG] is added after every </p> that lacks one.",
    examples: [["Ground two phrases", 'glamm ground photo.jpg --text "A <p>man</p> holds a <p>red kite</p>."']],
  });
  readonly task = "ground" as const;
  text = Option.String("--text", { required: true, description: "the answer with <p>phrase</p> marks (--backend attend: plain text)" });
  images = Option.Rest({ required: 1, name: "image" });
  imageArgs = () => this.images;
  // GLaMM grounds the marked phrases; attend-and-segment finds the noun phrases of plain text itself.
  taskInput = () => ({ task: this.task, text: this.attendSettings() ? this.text : checkGroundText(this.text) });
}
