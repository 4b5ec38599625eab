// Draws the example images (committed as PNGs): simple scenes, so they are ours to ship.
// Run with `bun examples/make-images.ts` from the repository root.
import sharp from "sharp";
import { renderScene } from "../src/world/raster.ts";
import { generateScene, sceneSeed } from "../src/world/scene.ts";

const scenes: Record<string, string> = {
  shapes: `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#cfe8ff"/><stop offset="1" stop-color="#fff6d5"/></linearGradient></defs>
    <rect width="640" height="480" fill="url(#g)"/>
    <rect x="80" y="80" width="140" height="140" fill="#d62828"/>
    <circle cx="420" cy="300" r="90" fill="#1d3fc4"/>
    <polygon points="470,50 590,220 350,220" fill="#2a9d3a"/></svg>`,
  kite: `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600">
    <rect width="800" height="420" fill="#8ecae6"/><rect y="420" width="800" height="180" fill="#e9c46a"/>
    <polygon points="560,80 640,170 560,260 480,170" fill="#e63946"/>
    <path d="M560 260 C 520 330, 470 360, 430 430" stroke="#333" stroke-width="3" fill="none"/>
    <circle cx="420" cy="400" r="22" fill="#f4a261"/><rect x="400" y="422" width="40" height="90" rx="10" fill="#264653"/>
    <rect x="402" y="512" width="14" height="60" fill="#264653"/><rect x="424" y="512" width="14" height="60" fill="#264653"/></svg>`,
  table: `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600">
    <rect width="600" height="600" fill="#f1faee"/><rect x="60" y="300" width="480" height="30" fill="#8d5524"/>
    <rect x="90" y="330" width="24" height="220" fill="#8d5524"/><rect x="486" y="330" width="24" height="220" fill="#8d5524"/>
    <circle cx="200" cy="255" r="45" fill="#ffb703"/><rect x="330" y="170" width="70" height="130" rx="8" fill="#219ebc"/></svg>`,
};

for (const [name, svg] of Object.entries(scenes)) {
  await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toFile(`examples/images/${name}.png`);
  console.log(`examples/images/${name}.png`);
}

// Scenes of the demo model's world (src/world), from their own set seed (training uses 1, demo-quality 2, tests 3).
// The first scenes of the set with 4, 3 and 2 objects.
const counts = [4, 3, 2];
for (let index = 0, made = 0; made < counts.length; index++) {
  const scene = generateScene(sceneSeed(4, index));
  if (scene.objects.length !== counts[made]) continue;
  const name = `world-${++made}`;
  const { image } = renderScene(scene);
  await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png({ compressionLevel: 9 }).toFile(`examples/images/${name}.png`);
  console.log(`examples/images/${name}.png`);
}
