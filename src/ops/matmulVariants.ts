/**
 * The matmul kernel variants (shaders/matmul.wgsl), on their own so that the op
 * (src/ops/matmul.ts) and the tuning table that chooses among them (src/ops/tuningTable.ts) can
 * both name them without importing each other.
 */
export type MatmulVariant = 'subgroup' | 'tiled' | 'blocked' | 'skinny' | 'plain';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['subgroup', 'tiled', 'blocked', 'skinny', 'plain'];

/**
 * An output side this short or shorter makes a product thin (a classifier head): the GPU rules
 * give it the skinny kernel, and a kernel tuning chooses for it as a class of its own.
 */
export const THIN_SIDE = 16;
