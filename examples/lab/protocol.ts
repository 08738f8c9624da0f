/**
 * The messages between the lab page and its training worker. The worker owns the WebGPU device,
 * the data and the trainer; the page only shows what it is told, so it stays responsive.
 */
import type { MemoryStats } from '../../src/gpu/bufferPool.js';

/** The datasets the lab trains on: the bundled digits, and Fashion-MNIST when served beside the page. */
export const LAB_DATASETS = ['digits', 'fashion-mnist'] as const;
export type LabDataset = (typeof LAB_DATASETS)[number];
/** Where, under the page's data/ folder, Fashion-MNIST's four .gz files are looked for. */
export const FASHION_FOLDER = 'fashion-mnist';

/** What the visitor chose on the page. */
export interface LabSettings {
  dataset: LabDataset;
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
  /** First message: where the page's data/ folder is, whatever the server's path. */
  | { type: 'init'; dataUrl: string }
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

/** One unit's figures over the steps since the last report: its mean local loss and its training accuracy (0 to 1). */
export interface UnitPoint {
  name: string;
  likelihood: number;
  accuracy: number;
}

export type WorkerMessage =
  | { type: 'ready'; adapter: string; software: boolean; datasets: { name: LabDataset; available: boolean }[] }
  /** A run's model and, in words, its data. */
  | { type: 'model'; description: string; parameters: number; data: string }
  | { type: 'progress'; step: number; epoch: number; units: UnitPoint[]; samplesPerSecond: number; memory: MemoryStats }
  | { type: 'epoch'; epoch: number; accuracy: number; heads: number[] }
  | { type: 'paused'; step: number }
  | { type: 'finished'; testAccuracy: number }
  | { type: 'reset' }
  | { type: 'checkpoint'; bytes: ArrayBuffer }
  | { type: 'sweep-point'; depth: number; method: 'sll' | 'backprop'; activationBytes: number }
  | { type: 'sweep-done' }
  | { type: 'prediction'; classNames: string[]; units: { name: string; probabilities: number[] }[] }
  | { type: 'grid'; pixels: Float32Array; labels: number[]; predicted: number[]; classNames: string[] }
  | { type: 'loaded'; testAccuracy: number; notices: string[] }
  | { type: 'error'; message: string };
