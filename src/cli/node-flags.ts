/**
 * The flags node runs `ortex serve` with, wherever it ships: the CLI's first line (`#!/usr/bin/env
 * -S node ...`), `npm start` and the Dockerfile's ENTRYPOINT carry the same list, and a test
 * (test/cli.test.ts) holds the three to this one. Workers are forked with their primary's flags.
 *
 * Fixed 16 MiB semi-spaces: left to itself, V8 sizes its young generation by the allocation
 * rate, up to 16 MiB per semi-space under load and down again when the load eases, and a
 * server's RSS follows each step by ±15 MiB with nothing held (bench/RESULTS.md, the soak). Fixed
 * at the size it settles at under load, RSS moves only with memory actually held, and scavenges
 * are fewer.
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
