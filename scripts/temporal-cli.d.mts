// Types of scripts/temporal-cli.mjs for the TypeScript that imports it (@rds/runner/dev-server).
export declare const TEMPORAL_CLI_VERSION: string;
export declare function temporalCliPath(env?: NodeJS.ProcessEnv): string;
export declare function temporalCliVersion(bin?: string): string | null;
export declare function installTemporalCli(env?: NodeJS.ProcessEnv): { bin: string; version: string; built: boolean };
