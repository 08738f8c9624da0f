/** SLL and backprop on hand-written layer gradients. */
export * from './config.js';
export * from './projection.js';
export * from './features.js';
export * from './objective.js';
export * from './localLoss.js';
export * from './dglHead.js';
export * from './drtp.js';
export * from './model.js';
export * from './schedule.js';
export * from './trainer.js';
export * from './fit.js';
export * from './spec.js';
export * from './checkpoint.js';
export * from './predict.js';
export { SpecError } from '../settings/schema.js';
export * from './memory.js';
export * from './runPlan.js';
export { METHODS } from './trainingSettings.js';
