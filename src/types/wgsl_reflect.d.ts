// wgsl_reflect's ESM build has no declaration file beside it; its types are the package's own.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
