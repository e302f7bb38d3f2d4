/** A promise with its resolver, for waking many waiters at once. */
export interface Signal {
  readonly promise: Promise<void>;
  fire(): void;
}

export function signal(): Signal {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}
