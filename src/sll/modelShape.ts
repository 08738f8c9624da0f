/**
 * What each model asks of its images, from shapes alone: no device, nothing allocated. The CNN
 * halves its images at every stage; the ViT's patches tile them. The model constructors, the
 * spec's shape check (`modelShapeProblem` in spec.ts, the command's pre-run check) and the lab's
 * fields all ask here, so each rule is written once.
 */
/** The most pooling stages a CNN can take on [C, H, W] images: each halves H and W exactly. */
export function cnnMaxStages(inputShape: readonly number[]): number {
  const [, h, w] = inputShape as [number, number, number];
  let stages = 0;
  while (stages < 30 && h % 2 ** (stages + 1) === 0 && w % 2 ** (stages + 1) === 0) stages++;
  return stages;
}

/** The patch sides that tile [C, H, W] images: the common divisors of H and W, ascending. */
export function vitPatches(inputShape: readonly number[]): number[] {
  const [, h, w] = inputShape as [number, number, number];
  const patches: number[] = [];
  for (let p = 1; p <= Math.min(h, w); p++) if (h % p === 0 && w % p === 0) patches.push(p);
  return patches;
}

/** Why a CNN of `stages` stages does not fit [C, H, W] images, or undefined when it does. */
export function cnnStagesProblem(inputShape: readonly number[], stages: number): string | undefined {
  const most = cnnMaxStages(inputShape);
  if (stages <= most) return undefined;
  const [, h, w] = inputShape;
  return `input ${inputShape.join('x')} must have H and W divisible by ${2 ** stages} for ${stages} pooling stages (each stage halves them; ${h}x${w} takes at most ${most})`;
}

/** Why a ViT's patch does not tile [C, H, W] images, or undefined when it does. */
export function vitPatchProblem(inputShape: readonly number[], patch: number): string | undefined {
  const patches = vitPatches(inputShape);
  if (patches.includes(patch)) return undefined;
  const [, h, w] = inputShape;
  return `patch ${patch} does not tile ${h}x${w} images: the image sides must be multiples of the patch (${patches.join(', ')})`;
}
