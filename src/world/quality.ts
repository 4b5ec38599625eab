import { maskIoU, matchPhrases, objectOfPhrase, parsePhrase, statedRelations } from "./check.ts";
import type { PixelBox } from "./relations.ts";
import type { Scene } from "./scene.ts";

/** The demo model's quality goals (issue #17), measured on held-out scenes. */
export const QUALITY_GOALS = {
  gcgPhrasePrecision: 0.95,
  gcgPhraseRecall: 0.95,
  gcgMaskIoU: 0.85,
  segmentIoU: 0.85,
  regionAccuracy: 0.95,
  gcgSecondsPerImage: 1,
  /** Attend backend: share of its caption's phrases whose SAM point falls inside the object the phrase names. */
  attendPointInside: 0.6,
} as const;

/** What a model said about one scene, in the terms the checks need. */
export interface GcgOutput {
  text: string;
  segments: { phrase: string; mask: Uint8Array }[];
}

export interface QualityReport {
  scenes: number;
  gcgPhrasePrecision: number;
  gcgPhraseRecall: number;
  gcgMaskIoU: number;
  gcgRelationsStated: number;
  gcgRelationsTrue: number;
  segmentIoU: number;
  /** Absent objects asked for: share answered with no mask or one covering at most 1% of the image; mean coverage. */
  absentEmptyShare: number;
  absentMeanCoverage: number;
  regionAccuracy: number;
  gcgSecondsPerImage: number;
  /** Attend backend (0 phrases = not measured), without and with --remove-corner. */
  attendPhrases: number;
  attendPointInside: number;
  attendPointInsideRemoveCorner: number;
  /** The same over only the phrases that name an object of the scene (grounding apart from caption errors). */
  attendNamedPhrases: number;
  attendPointInsideNamed: number;
  attendPointInsideNamedRemoveCorner: number;
}

const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;
const coverage = (mask: Uint8Array | undefined) => (mask ? mask.reduce((a, v) => a + (v ? 1 : 0), 0) / mask.length : 0);

/** Accumulates the checks of each scene; `report()` gives the figures the goals are stated in. */
export class QualityTally {
  private scenes = 0;
  private phrases = 0;
  private objects = 0;
  private matched = 0;
  private gcgIoUs: number[] = [];
  private relations = { stated: 0, true: 0 };
  private segmentIoUs: number[] = [];
  private absent: number[] = [];
  private regions = { asked: 0, right: 0 };
  private gcgSeconds: number[] = [];
  private attend = { phrases: 0, inside: 0, named: 0, phrasesRemoveCorner: 0, insideRemoveCorner: 0, namedRemoveCorner: 0 };

  addGcg(scene: Scene, masks: readonly Uint8Array[], boxes: readonly PixelBox[], output: GcgOutput, seconds: number): void {
    this.scenes++;
    const match = matchPhrases(scene, output.segments.map((s) => s.phrase));
    this.phrases += match.phrases;
    this.objects += match.objects;
    this.matched += match.matched.length;
    for (const { phrase, object } of match.matched) this.gcgIoUs.push(maskIoU(output.segments[phrase].mask, masks[object]));
    for (const r of statedRelations(scene, boxes, output.text)) {
      this.relations.stated++;
      if (r.holds) this.relations.true++;
    }
    this.gcgSeconds.push(seconds);
  }

  /** `mask` undefined = the model gave no mask. */
  addSegment(truth: Uint8Array | null, mask: Uint8Array | undefined): void {
    if (truth) this.segmentIoUs.push(mask ? maskIoU(mask, truth) : 0);
    else this.absent.push(coverage(mask));
  }

  addRegion(scene: Scene, object: number, caption: string): void {
    this.regions.asked++;
    const named = parsePhrase(caption);
    const o = scene.objects[object];
    if (named && named.colour === o.colour && named.shape === o.shape) this.regions.right++;
  }

  /** Attend-and-segment points: a phrase counts as right when it names an object of the scene and its point is on it. */
  addAttend(scene: Scene, masks: readonly Uint8Array[], phrases: readonly { phrase: string; point: [number, number] }[], removeCorner: boolean): void {
    for (const { phrase, point } of phrases) {
      const object = objectOfPhrase(scene, phrase);
      const [x, y] = point.map(Math.floor);
      const inside = object >= 0 && x >= 0 && y >= 0 && x < scene.width && y < scene.height && masks[object][y * scene.width + x] === 1;
      if (removeCorner) {
        this.attend.phrasesRemoveCorner++;
        this.attend.namedRemoveCorner += Number(object >= 0);
        this.attend.insideRemoveCorner += Number(inside);
      } else {
        this.attend.phrases++;
        this.attend.named += Number(object >= 0);
        this.attend.inside += Number(inside);
      }
    }
  }

  report(): QualityReport {
    return {
      scenes: this.scenes,
      gcgPhrasePrecision: this.phrases ? this.matched / this.phrases : 0,
      gcgPhraseRecall: this.objects ? this.matched / this.objects : 0,
      gcgMaskIoU: mean(this.gcgIoUs),
      gcgRelationsStated: this.relations.stated,
      gcgRelationsTrue: this.relations.true,
      segmentIoU: mean(this.segmentIoUs),
      absentEmptyShare: this.absent.length ? this.absent.filter((c) => c <= 0.01).length / this.absent.length : 0,
      absentMeanCoverage: mean(this.absent),
      regionAccuracy: this.regions.asked ? this.regions.right / this.regions.asked : 0,
      gcgSecondsPerImage: median(this.gcgSeconds),
      attendPhrases: this.attend.phrases,
      attendPointInside: this.attend.phrases ? this.attend.inside / this.attend.phrases : 0,
      attendPointInsideRemoveCorner: this.attend.phrasesRemoveCorner ? this.attend.insideRemoveCorner / this.attend.phrasesRemoveCorner : 0,
      attendNamedPhrases: this.attend.named,
      attendPointInsideNamed: this.attend.named ? this.attend.inside / this.attend.named : 0,
      attendPointInsideNamedRemoveCorner: this.attend.namedRemoveCorner ? this.attend.insideRemoveCorner / this.attend.namedRemoveCorner : 0,
    };
  }
}

/** Each goal with the measured figure and whether it is met (the attend goal only when the attend backend was run). */
export function checkGoals(report: QualityReport): { goal: keyof typeof QUALITY_GOALS; target: number; value: number; met: boolean }[] {
  const goals = (Object.keys(QUALITY_GOALS) as (keyof typeof QUALITY_GOALS)[]).filter((g) => g !== "attendPointInside" || report.attendPhrases > 0);
  return goals.map((goal) => {
    const target = QUALITY_GOALS[goal];
    const value = report[goal];
    return { goal, target, value, met: goal === "gcgSecondsPerImage" ? value <= target : value >= target };
  });
}
