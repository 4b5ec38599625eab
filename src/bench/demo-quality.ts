/**
 * `demo-quality`: the demo model's quality goals (issue #17) on held-out scenes of the shape world: GCG phrase
 * precision/recall and mask IoU, referring segmentation IoU (and absent objects), region captions, GCG time per image.
 * Params: model=DIR (a checkpoint folder; default the built-in demo), scenes=200, seed=2 (training uses seed 1),
 * precision (default: the device's default, as the commands use); llava=DIR and sam=FILE add the attend backend's
 * point accuracy (with and without --remove-corner).
 */
import { choosePrecision, type Precision } from "../convert/glamm.ts";
import { GlammModel } from "../pipeline/glamm/model.ts";
import { imageSha256 } from "../pipeline/sam-cache.ts";
import { resolveModel, DEMO_MODEL } from "../pipeline/sources.ts";
import { ImageSession, runTask } from "../pipeline/tasks.ts";
import { renderScene } from "../world/raster.ts";
import { checkGoals, QualityTally, type QualityReport } from "../world/quality.ts";
import { COLOURS, generateScene, phraseOf, sceneSeed, SHAPES } from "../world/scene.ts";
import { AttendModel } from "../pipeline/attend/session.ts";
import { ATTEND_QUESTION } from "../pipeline/attend/task.ts";
import type { Benchmark } from "./runner.ts";
import { countParam } from "./params.ts";

const MAX_TOKENS = 64;

export const demoQualityBenchmark: Benchmark = {
  name: "demo-quality",
  description: "demo model quality on held-out shape scenes: GCG, segment, region (params model=DIR scenes=200 seed=2)",
  runs: { warmup: 0, repeat: 1 },
  // Minutes long: a plain `glamm bench` leaves it out unless model= is given; named, it runs on the demo by default.
  requiredParams: ["model"],
  async prepare({ device, params }) {
    const count = countParam(params, "scenes", 200);
    const setSeed = countParam(params, "seed", 2, 0);
    const resolved = resolveModel(params.model ?? DEMO_MODEL, undefined, "gcg");
    // The precision a user gets by default on this device, unless precision=fp32|fp16|int4 says otherwise.
    const precision = choosePrecision((params.precision as Precision | undefined) ?? "auto", device);
    const model = await GlammModel.load(resolved.sources, { precision, device, cache: false });
    const info = { id: resolved.id, revision: resolved.revision, precision };
    const attend = params.llava && params.sam ? await AttendModel.load({ model: params.llava, sam: params.sam, device, precision }) : undefined;
    const settings = { maxTokens: MAX_TOKENS };
    let report: QualityReport | undefined;
    return {
      async run() {
        const tally = new QualityTally();
        for (let i = 0; i < count; i++) {
          const scene = generateScene(sceneSeed(setSeed, i));
          const { image, masks, boxes } = renderScene(scene);
          const session = await ImageSession.open(model, { path: `scene-${i}`, image, sha256: imageSha256(image.data) });
          const start = performance.now();
          const gcg = await runTask(session, { task: "gcg" }, settings, info);
          tally.addGcg(scene, masks, boxes, { text: gcg.text, segments: gcg.segments }, (performance.now() - start + session.timings.encode) / 1000);
          for (const [k, o] of scene.objects.entries()) {
            const seg = await runTask(session, { task: "segment", expressions: [`the ${phraseOf(o)}`] }, settings, info);
            tally.addSegment(masks[k], seg.segments[0]?.mask);
            const region = await runTask(session, { task: "region", boxes: [boxes[k]] }, settings, info);
            tally.addRegion(scene, k, region.boxes?.[0]?.caption ?? "");
          }
          const present = new Set(scene.objects.map(phraseOf));
          const absent = COLOURS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)).filter((p) => !present.has(p));
          const seg = await runTask(session, { task: "segment", expressions: [`the ${absent[i % absent.length]}`] }, settings, info);
          tally.addSegment(null, seg.segments[0]?.mask);
          if (attend) {
            const opened = await attend.openImage(image);
            for (const removeCorner of [false, true]) {
              const run = await opened.ask({ question: ATTEND_QUESTION, maxTokens: MAX_TOKENS, removeCorner });
              tally.addAttend(scene, masks, run.phrases, removeCorner);
            }
          }
        }
        report = tally.report();
      },
      metrics() {
        if (!report) return {};
        const goals = Object.fromEntries(checkGoals(report).map((g) => [`goal ${g.goal} met`, g.met]));
        return { ...report, ...goals };
      },
      dispose: async () => {
        await model.release();
        await attend?.release();
      },
      unit: { name: "scenes", perRun: count },
    };
  },
};
