/** Every op family; one file per family, each with its shape checks and dispatch. */
export * from './copy.js';
export * from './elementwise.js';
