/**
 * The one-hot labels of K classes as a table: the [K, K] identity, whose row y is onehot(y), so
 * that `gatherRows(table, labels)` gives a batch's one-hot rows without a kernel of its own.
 * PredSim's similarity target and Forward-Forward's label writing read it. Fixed, never trained:
 * memory category 'projection'.
 */
import type { Device } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';

export function oneHotTable(device: Device, classes: number): Tensor {
  const eye = new Float32Array(classes * classes);
  for (let k = 0; k < classes; k++) eye[k * classes + k] = 1;
  return device.tensor(eye, [classes, classes], 'f32', 'projection');
}
