// Module resolution hooks for forbid-modules.mjs (they run on the loader thread).
let prefixes = [];

export function initialize(data) {
  prefixes = data.prefixes;
}

export async function resolve(specifier, context, next) {
  if (prefixes.some((p) => specifier.startsWith(p))) throw new Error(`forbidden module ${specifier} imported by ${context.parentURL}`);
  return next(specifier, context);
}
