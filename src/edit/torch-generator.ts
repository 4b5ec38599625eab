/**
 * torch.Generator("cpu").manual_seed(seed) and its standard-normal draws (torch.randn / Tensor.normal_), as
 * PyTorch 1.13's CPU kernels compute them (aten/src/ATen/native/cpu/DistributionKernels.cpp normal_kernel,
 * ATen/core/DistributionsHelper.h, ATen/core/MT19937RNGEngine.h):
 * - float32 tensors of >= 16 elements: every element first gets a uniform float (24 random bits × 2^-24), then each
 *   block of 16 becomes Box-Muller pairs (u1 = 1 − data[j], u2 = data[j + 8]); when the size is not a multiple of 16,
 *   the last 16 elements are drawn afresh and transformed again.
 * - fewer than 16 elements: per element at::normal_distribution<double> (two 53-bit uniforms, cos kept, sin cached
 *   in the generator for the next element).
 * torch's AVX2 build evaluates the block transform with polynomial log/sincos in float; this follows the scalar
 * kernel (float arithmetic), which agrees to a few float ulps.
 */

const N = 624;
const M = 397;

/** MT19937 as at::mt19937 (seeded by init_genrand with the low 32 bits of the seed). */
class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    this.state[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.state[i - 1] ^ (this.state[i - 1] >>> 30);
      this.state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private twist(): void {
    const s = this.state;
    for (let k = 0; k < N; k++) {
      const y = (s[k] & 0x80000000) | (s[(k + 1) % N] & 0x7fffffff);
      s[k] = s[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

const f = Math.fround;

export class TorchCpuGenerator {
  private engine: Mt19937;
  private cachedDoubleNormal: number | undefined;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`seed must be an integer from 0 to 4294967295, got ${seed}`);
    }
    this.engine = new Mt19937(seed);
  }

  /** uniform_real_distribution<float>(0, 1): the low 24 bits of one 32-bit draw. */
  private uniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) / 0x1000000;
  }

  /** uniform_real_distribution<double>(0, 1): the low 53 bits of random64() = (first << 32) | second. */
  private uniformDouble(): number {
    const hi = this.engine.nextUint32() & 0x1fffff;
    const lo = this.engine.nextUint32();
    return (hi * 0x100000000 + lo) / 2 ** 53;
  }

  private normalDouble(): number {
    if (this.cachedDoubleNormal !== undefined) {
      const cached = this.cachedDoubleNormal;
      this.cachedDoubleNormal = undefined;
      return cached;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    // torch 1.13 writes log(1 − u2) (later versions log1p(−u2)).
    const r = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.cachedDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `torch.randn(count, generator=g)` in float32, in memory order. */
  randn(count: number): Float32Array {
    const data = new Float32Array(count);
    if (count < 16) {
      for (let i = 0; i < count; i++) data[i] = this.normalDouble();
      return data;
    }
    for (let i = 0; i < count; i++) data[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= count; i += 16) boxMuller16(data, i);
    if (count % 16 !== 0) {
      const start = count - 16;
      for (let i = 0; i < 16; i++) data[start + i] = this.uniformFloat();
      boxMuller16(data, start);
    }
    return data;
  }
}

function boxMuller16(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - data[offset + j]);
    const u2 = data[offset + j + 8];
    const radius = f(Math.sqrt(f(-2 * f(Math.log(u1)))));
    const theta = f(2 * Math.PI * u2);
    data[offset + j] = f(radius * f(Math.cos(theta)));
    data[offset + j + 8] = f(radius * f(Math.sin(theta)));
  }
}
