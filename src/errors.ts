// The error class and its codes are wire types (src/protocol/errors.ts); every layer imports them from here.
export * from './protocol/errors.js';
