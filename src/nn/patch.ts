/**
 * Patch embedding of a ViT: an NCHW image cut into non-overlapping p x p patches, each patch
 * projected to `dim` (PyTorch's Conv2d(C, dim, kernel = stride = p)), plus a learned position
 * embedding, with an optional learned class token in front.
 *
 * The strided convolution is computed as what it is when kernel = stride: a matmul of the
 * patches. The image is rearranged (one strided copy, no arithmetic) into patch rows
 * P [N Tp, C p p], ordered (c, ky, kx) as a Conv2d weight's inner axes, and multiplied by the
 * weight W [dim, C, p, p] seen as [dim, C p p]. This gives the tokens directly in [N, Tp, dim]
 * order (a conv2d would give [N, dim, Hp, Wp] and need a transpose copy forward and back), and
 * its backward is the Linear rule. The weight keeps the Conv2d layout, so a PyTorch ViT's
 * `conv_proj` / `patch_embed.proj` loads as it is.
 *
 * Forward rule (Tp = (H/p)(W/p), T = Tp + 1 with a class token, else Tp):
 *   z = P W^T + b                                    [N, Tp, dim]
 *   y[n, 0]     = cls + pos[0]                       (with a class token)
 *   y[n, t0 + i] = z[n, i] + pos[t0 + i]             (t0 = 1 with a class token, else 0)
 * Backward rule:
 *   dpos = sum over n of dy                          [T, dim]
 *   dcls = sum over n of dy[n, 0] = dpos[0]          [dim]
 *   dz = dy[:, t0:];  dW = dz^T P;  db = sum over rows of dz
 *   dP = dz W, and dx = dP put back in image layout  (only when asked)
 * The forward keeps x (a view: the caller holds the image anyway), and the backward cuts the
 * patches again rather than keeping a copy of them.
 *
 * Initialization: W and b as PyTorch's Conv2d (U(+-1/sqrt(C p p))); the position embedding
 * N(0, 0.02^2) and the class token zeros, as torchvision's VisionTransformer. All from the
 * counter RNG (weight, then bias, then position embedding, from one stream).
 */
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { formatShape, shapesEqual, type Shape } from '../gpu/shape.js';
import type { Tensor } from '../gpu/tensor.js';
import { contiguous, copy, copyInto } from '../ops/copy.js';
import { add, addInPlace } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import type { Seed } from '../ops/random.js';
import { sum } from '../ops/reduce.js';
import { initStream, uniformFanIn } from './init.js';
import { checkBackward, checkForward, type BackwardOptions, type ForwardOptions, type Gradients, type Layer, type Parameter } from './layer.js';
import { SavedTensors } from './saved.js';

/** Standard deviation of the position embedding's initial values (torchvision's ViT). */
export const POSITION_EMBEDDING_STD = 0.02;

export interface PatchEmbeddingOptions {
  /** [H, W] of the input images; both multiples of `patch`. */
  imageSize: readonly [number, number];
  channels: number;
  /** Side of the square patches (the conv's kernel and stride). */
  patch: number;
  /** Width of a token. */
  dim: number;
  /** Prepend a learned class token (ViT); default false. */
  classToken?: boolean;
  seed: Seed;
}

export class PatchEmbedding implements Layer {
  readonly name: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly patch: number;
  readonly dim: number;
  /** Patches per image, (H/p)(W/p). */
  readonly patches: number;
  /** Tokens per image: the patches, plus the class token if there is one. */
  readonly tokens: number;
  /** [dim, C, p, p], Conv2d's layout. */
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** [T, dim]. */
  readonly position: Tensor;
  /** [dim], or undefined without a class token. */
  readonly classToken: Tensor | undefined;
  /** The images (the weight gradient re-reads their patches). */
  private readonly saved = new SavedTensors<[Tensor]>(() => this.name);

  constructor(
    readonly device: Device,
    options: PatchEmbeddingOptions,
  ) {
    const { imageSize, channels, patch, dim } = options;
    const [height, width] = imageSize;
    const positive = [height, width, channels, patch, dim].every((v) => Number.isInteger(v) && v >= 1);
    if (!positive || height % patch !== 0 || width % patch !== 0) {
      throw new RangeError(
        `patch embedding: image ${height}x${width}, ${channels} channels, patch ${patch}, dim ${dim}: ` +
          'all must be positive integers and the image sides multiples of the patch',
      );
    }
    this.channels = channels;
    this.height = height;
    this.width = width;
    this.patch = patch;
    this.dim = dim;
    this.patches = (height / patch) * (width / patch);
    this.tokens = this.patches + (options.classToken ? 1 : 0);
    this.name = `patch-embedding ${channels}x${height}x${width} /${patch} -> ${this.tokens}x${dim}`;

    const stream = initStream(device, options.seed);
    const fanIn = channels * patch * patch;
    this.weight = uniformFanIn(device, stream, [dim, channels, patch, patch], fanIn);
    this.bias = uniformFanIn(device, stream, [dim], fanIn);
    this.position = stream.normal([this.tokens, dim], { std: POSITION_EMBEDDING_STD, category: 'parameter' });
    this.classToken = options.classToken ? device.zeros([dim], 'f32', 'parameter') : undefined;
  }

  parameters(): readonly Parameter[] {
    const params: Parameter[] = [
      { name: 'weight', value: this.weight },
      { name: 'bias', value: this.bias },
      { name: 'position', value: this.position },
    ];
    if (this.classToken) params.push({ name: 'classToken', value: this.classToken });
    return params;
  }

  outputShape(inputShape: Shape): number[] {
    const expected = [inputShape[0]!, this.channels, this.height, this.width];
    if (inputShape.length !== 4 || !shapesEqual(inputShape, expected)) {
      throw new ShapeError(`${this.name}: input ${formatShape(inputShape)} must be images [N, ${this.channels}, ${this.height}, ${this.width}]`);
    }
    return [inputShape[0]!, this.tokens, this.dim];
  }

  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    checkForward(this.name, x, options);
    const [n, t, dim] = this.outputShape(x.shape) as [number, number, number];
    this.saved.release();
    return this.device.scope(() => {
      // The patch rows are freed as soon as the product is made.
      const z = this.device.scope(() => matmul(this.patchRows(x), this.weightRows(), { transposeB: true, bias: this.bias, category: 'scratch' }));
      const zTokens = z.reshape([n, this.patches, dim]);
      const y = this.classToken ? this.withClassToken(zTokens, n, t) : add(zTokens, this.position);
      if (options.training ?? true) this.saved.save(x.handle());
      return y;
    });
  }

  /** [cls; z] + pos, with cls folded into row 0 of the position table. */
  private withClassToken(zTokens: Tensor, n: number, t: number): Tensor {
    return this.device.scope(() => {
      const tokens = this.device.zeros([n, t, this.dim], 'f32', 'scratch');
      const table = copy(this.position, 'scratch');
      copyInto(tokens.slice(1, 1, t), zTokens);
      addInPlace(table.slice(0, 0, 1).reshape([this.dim]), this.classToken!);
      return add(tokens, table);
    });
  }

  backward(dy: Tensor, options: BackwardOptions = {}): Gradients {
    checkBackward(this.name, dy, options);
    const [x] = this.saved.get();
    const n = x.shape[0]!;
    const outShape = [n, this.tokens, this.dim];
    if (!shapesEqual(dy.shape, outShape)) {
      throw new ShapeError(`${this.name}: dy ${formatShape(dy.shape)} does not match the forward output ${formatShape(outShape)}`);
    }
    return this.saved.consume(() =>
      this.device.scope(() => {
        const dPosition = sum(dy, [0]);
        // Parameter order: weight, bias, position, classToken; dz: the patch tokens' rows of dy, dense.
        const dClassToken = this.classToken ? copy(dPosition.slice(0, 0, 1)).reshape([this.dim]) : undefined;
        const dzSource = this.classToken ? dy.slice(1, 1, this.tokens) : dy;
        const dz = contiguous(dzSource, 'scratch').reshape([n * this.patches, this.dim]);
        const dWeight = matmul(dz, this.patchRows(x), { transposeA: true }).reshape(this.weight.shape);
        const params = [dWeight, sum(dz, [0]), dPosition, ...(dClassToken ? [dClassToken] : [])];
        return options.inputGradient ? { params, input: this.imageFromRows(matmul(dz, this.weightRows(), { category: 'scratch' }), n) } : { params };
      }),
    );
  }

  /** x [N, C, H, W] as patch rows [N Tp, C p p], ordered (n, py, px) x (c, ky, kx). Scratch. */
  private patchRows(x: Tensor): Tensor {
    const [n] = x.shape as [number];
    const { channels: c, patch: p } = this;
    const hp = this.height / p;
    const wp = this.width / p;
    return this.device.scope(() => {
      const byPatch = contiguous(x, 'scratch').reshape([n, c, hp, p, wp, p]).permute([0, 2, 4, 1, 3, 5]);
      return copy(byPatch, 'scratch').reshape([n * this.patches, c * p * p]);
    });
  }

  /** The inverse of patchRows: rows [N Tp, C p p] (consumed) back to an image [N, C, H, W]. */
  private imageFromRows(rows: Tensor, n: number): Tensor {
    const { channels: c, patch: p } = this;
    const image = this.device.scope(() => copy(rows.reshape([n, this.height / p, this.width / p, c, p, p]).permute([0, 3, 1, 4, 2, 5])).reshape([n, c, this.height, this.width]));
    rows.dispose();
    return image;
  }

  /** The weight as [dim, C p p] (a view). */
  private weightRows(): Tensor {
    return this.weight.reshape([this.dim, this.channels * this.patch * this.patch]);
  }

  release(): void {
    this.saved.release();
  }

  dispose(): void {
    this.release();
    this.weight.dispose();
    this.bias.dispose();
    this.position.dispose();
    this.classToken?.dispose();
  }
}
