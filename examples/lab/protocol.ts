/**
 * The messages between the lab page and its training worker. The worker owns the WebGPU device,
 * the data and the trainer; the page only shows what it is told, so it stays responsive.
 */
import type { MemoryStats } from '../../src/gpu/bufferPool.js';

/** What the visitor chose on the page. */
export interface LabSettings {
  method: 'sll' | 'backprop';
  model: 'mlp' | 'cnn' | 'vit';
  /** Blocks, 1 to 16: the MLP's hidden layers, the CNN's conv stages, the ViT's transformer blocks. */
  depth: number;
  /** The MLP's hidden width, the CNN's channels per stage, the ViT's token width. */
  width: number;
  /** SLL's local objective (ignored by backprop); d0 absent: its default for the mode. */
  objective: { mode: 'class' | 'latent'; d0?: number; tau: number; dropout: number; alignment: boolean };
  lr: number;
  batch: number;
  epochs: number;
}

export type PageMessage =
  /** First message: where the digits are (the page's folder, whatever the server's path). */
  | { type: 'init'; digitsUrl: string }
  | { type: 'start'; settings: LabSettings }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'reset' }
  /** The run's checkpoint, as `sll train` writes it (safetensors): the run pauses first. */
  | { type: 'save' }
  /** A checkpoint's bytes (from this page or `sll train`): verified, loaded and evaluated. */
  | { type: 'load'; bytes: ArrayBuffer; name: string }
  /** Peak activation memory of one training step, SLL and backprop, for MLPs of 1 to maxDepth blocks (a run pauses first). */
  | { type: 'sweep'; maxDepth: number; width: number; batch: number }
  /** One 28x28 image of raw [0, 1] pixels (ink 1): every head's class probabilities for it. */
  | { type: 'predict'; pixels: Float32Array }
  /** The first test images with their labels and the classifier's predictions. */
  | { type: 'grid'; count: number };

export interface UnitPoint {
  name: string;
  likelihood: number;
}

export type WorkerMessage =
  | { type: 'ready'; adapter: string; software: boolean }
  | { type: 'model'; description: string; parameters: number }
  | { type: 'progress'; step: number; epoch: number; units: UnitPoint[]; samplesPerSecond: number; memory: MemoryStats }
  | { type: 'epoch'; epoch: number; accuracy: number; heads: number[] }
  | { type: 'paused'; step: number }
  | { type: 'finished'; testAccuracy: number }
  | { type: 'reset' }
  | { type: 'checkpoint'; bytes: ArrayBuffer }
  | { type: 'sweep-point'; depth: number; method: 'sll' | 'backprop'; activationBytes: number }
  | { type: 'sweep-done' }
  | { type: 'prediction'; units: { name: string; probabilities: number[] }[] }
  | { type: 'grid'; pixels: Float32Array; labels: number[]; predicted: number[] }
  | { type: 'loaded'; testAccuracy: number; notices: string[] }
  | { type: 'error'; message: string };
