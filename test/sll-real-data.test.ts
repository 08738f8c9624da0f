// SLL and backprop on real images: a 2,000-image subset of Fashion-MNIST (Debian's package; CI
// installs it), a few epochs each, to a stated accuracy on 1,000 test images.
import { describe, expect, it } from 'vitest';
import { findFashionMnist, loadFashionMnist, subset } from '../src/data/index.js';
import { cnn, evaluate, fit, latentModeObjective, mlp, Trainer, type Method, type Model } from '../src/sll/index.js';
import { testDevice } from './helpers/device.js';

const device = await testDevice();
const found = findFashionMnist();

describe.runIf(found !== undefined)('Fashion-MNIST subset (2,000 train / 1,000 test)', () => {
  const dataset = found ? loadFashionMnist({ dir: found }) : undefined;

  async function run(method: Method, model: Model, epochs: number, latent: boolean) {
    const trainer = new Trainer(device, model, {
      method,
      optimizer: { kind: 'adam', lr: 1e-3 },
      seed: 1,
      metricsEvery: 10,
      ...(latent ? { objective: () => latentModeObjective() } : {}),
    });
    await fit(trainer, subset(dataset!.train, 2000), dataset!.shape, { epochs, batchSize: 50, seed: 1 });
    const result = await evaluate(trainer, subset(dataset!.test, 1000), dataset!.shape, 250);
    trainer.dispose();
    model.dispose();
    return result;
  }

  for (const method of ['sll', 'backprop'] as const) {
    it(`${method}: MLP 784-256-256-10, 3 epochs, reaches 75% test accuracy`, async () => {
      const model = mlp(device, { inputShape: dataset!.shape, hidden: [256, 256], classes: 10, seed: 1 });
      const result = await run(method, model, 3, false);
      console.log(`fashion subset, mlp, ${method}: accuracy ${result.accuracy}, block heads ${result.blockAccuracy.join(', ')}`);
      // Measured on lavapipe: 78.6% for both.
      expect(result.accuracy).toBeGreaterThanOrEqual(0.75);
    });

    it(`${method}: CNN conv8-pool/conv16-pool/fc64, 5 epochs, reaches 72% test accuracy`, async () => {
      const model = cnn(device, { inputShape: dataset!.shape, classes: 10, seed: 1, channels: [8, 16], hidden: 64 });
      const result = await run(method, model, 5, true);
      console.log(`fashion subset, cnn, ${method}: accuracy ${result.accuracy}, block heads ${result.blockAccuracy.join(', ')}`);
      // Measured on lavapipe: SLL 75.4% (its block heads about 80%), backprop 79.2%.
      expect(result.accuracy).toBeGreaterThanOrEqual(0.72);
    });
  }
});
