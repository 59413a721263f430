export { main, registerCommand } from './main.js';
export type { Command } from './args.js';
