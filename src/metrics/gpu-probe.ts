/**
 * GPU utilization and memory where NVIDIA's management library is present, read through
 * `nvidia-smi` (which ships with the driver, so ortex needs no NVML binding):
 *
 *   nvidia-smi --query-gpu=index,uuid,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits
 *
 * run every `intervalMs` off the event loop (execFile), never twice at once. Without the
 * binary on PATH nothing runs and no GPU family is registered; a run that fails or times
 * out leaves no readings (the families go empty) and is logged once, not per run.
 *
 * Threading: the event loop only (the child process does the waiting).
 */

import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../server/logger.js';
import { type Sample, collected } from './collected-metric.js';

export interface GpuProbeOptions {
  /** The nvidia-smi to run: a name looked up on PATH, or a path. Default 'nvidia-smi'. */
  command?: string;
  /** Time between readings, in ms (>= 100). Default 10000. */
  intervalMs?: number;
}

export interface GpuReading {
  readonly index: string;
  readonly uuid: string;
  /** 0 to 1; undefined when the GPU does not report it. */
  readonly utilization: number | undefined;
  readonly memoryUsedBytes: number | undefined;
  readonly memoryTotalBytes: number | undefined;
}

export const NVIDIA_SMI_ARGS: readonly string[] = ['--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'];

const MIB = 1024 * 1024;
const RUN_TIMEOUT_MS = 5000;

/** The executable `command` resolves to (PATH lookup for a bare name), or undefined. */
export function findExecutable(command: string, path = process.env.PATH ?? ''): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (command.includes('/')) return executable(command) ? command : undefined;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/** A number field of nvidia-smi's CSV; '[N/A]', '[Not Supported]' and the like are undefined. */
function field(text: string | undefined, scale: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return text.trim() === '' || !Number.isFinite(n) ? undefined : n * scale;
}

/** Parses nvidia-smi's `--format=csv,noheader,nounits` output for NVIDIA_SMI_ARGS' fields. */
export function parseNvidiaSmi(output: string): GpuReading[] {
  const readings: GpuReading[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [index, uuid, utilization, used, total] = line.split(',').map((s) => s.trim());
    if (index === undefined || uuid === undefined || !/^\d+$/.test(index)) continue;
    readings.push({
      index,
      uuid,
      utilization: field(utilization, 0.01),
      memoryUsedBytes: field(used, MIB),
      memoryTotalBytes: field(total, MIB),
    });
  }
  return readings;
}

export class GpuProbe {
  /** The latest readings; empty before the first and after a failed run. */
  readings: readonly GpuReading[] = [];
  readonly #path: string;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #warned = false;

  private constructor(path: string, logger: Logger) {
    this.#path = path;
    this.#logger = logger;
  }

  /**
   * A probe reading every `intervalMs`, or undefined when nvidia-smi is not there.
   * @example
   * const gpu = GpuProbe.start({}, logger);   // undefined on a machine without NVIDIA's driver
   * gpu?.register(registry);
   */
  static start(options: GpuProbeOptions, logger: Logger): GpuProbe | undefined {
    const intervalMs = options.intervalMs ?? 10_000;
    const path = findExecutable(options.command ?? 'nvidia-smi');
    if (path === undefined) return undefined;
    const probe = new GpuProbe(path, logger);
    void probe.refresh();
    probe.#timer = setInterval(() => void probe.refresh(), intervalMs);
    probe.#timer.unref();
    return probe;
  }

  /** Reads once now (unless a read is running: then waits for that one). Never rejects. */
  refresh(): Promise<void> {
    this.#running ??= new Promise<void>((resolve) => {
      execFile(this.#path, NVIDIA_SMI_ARGS, { timeout: RUN_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout) => {
        this.#running = undefined;
        if (err) {
          this.readings = [];
          if (!this.#warned) this.#logger.warn({ err, command: this.#path }, 'nvidia-smi failed: no GPU metrics until it answers');
          this.#warned = true;
        } else {
          this.readings = parseNvidiaSmi(stdout);
          this.#warned = false;
        }
        resolve();
      });
    });
    return this.#running;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Registers the GPU families on `registry`. */
  register(registry: Registry): void {
    const family = (name: string, help: string, value: (r: GpuReading) => number | undefined) =>
      collected(registry, name, help, 'gauge', () => this.readings.flatMap((r): Sample[] => {
        const v = value(r);
        return v === undefined ? [] : [{ labels: { gpu: r.index, uuid: r.uuid }, value: v }];
      }));
    family('ortex_gpu_utilization_ratio', 'GPU utilization over the driver\'s last sample period, 0 to 1 (nvidia-smi)', (r) => r.utilization);
    family('ortex_gpu_memory_used_bytes', 'GPU memory in use, in bytes (nvidia-smi)', (r) => r.memoryUsedBytes);
    family('ortex_gpu_memory_total_bytes', 'GPU memory in total, in bytes (nvidia-smi)', (r) => r.memoryTotalBytes);
  }
}
