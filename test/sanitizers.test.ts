// LeakSanitizer over create/run/release cycles: test/fixtures/lsan-cycles.mjs in a fresh Node
// with the ASan runtime preloaded and the ASan + UBSan build of the addon, whose exit-time leak
// report must hold no leak allocated under a frame of ortex.node.
//
// It runs under `npm run test:asan` (which .ci/run runs), where ORTEX_ADDON points at
// build-asan/Release/ortex.node; `npm test` skips it.
//
// The report is parsed instead of being trusted to suppressions alone: LSan suppresses a leak
// when any frame matches, and every stack that started in JavaScript has Node frames, so a
// suppression of Node (or of libonnxruntime, which allocates the OrtValues ortex must release)
// would hide ortex's leaks too. Leaks of Node, V8 and ONNX Runtime themselves (allocations they
// keep until exit) have no ortex.node frame, or only frames of V8 allocating for its own heap
// above it, and are left out here. Stacks are unwound with DWARF (fast_unwind_on_malloc=0):
// libonnxruntime has no frame pointers, and an object it allocated for ortex would otherwise
// show no ortex frame.
//
// ORT_DISABLE_TELEMETRY=1: since 1.29 ONNX Runtime starts a telemetry uploader thread on Linux
// that is still running when the process exits, and reads strings ORT's static destructors have
// freed (a heap-use-after-free in ORT, in 1 of the first 4 runs here), and leaks besides.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./fixtures/lsan-cycles.mjs', import.meta.url));
const SUPPRESSIONS = fileURLToPath(new URL('./native/lsan.supp', import.meta.url));
const MODELS = fileURLToPath(new URL('../models/out/', import.meta.url));
const CYCLES = 3;
const TIMEOUT_MS = 240_000;
const LSAN_EXIT_CODE = 23; // the child's exit code after a leak report (or an ASan error: the stderr check tells)

/** The addon under test when it is an ASan build, or why this file is skipped. */
function sanitizedAddon(): { addon: string; libasan: string } | string {
  const addon = process.env.ORTEX_ADDON;
  if (!addon) return 'runs under `npm run test:asan` (ORTEX_ADDON unset: the default build is not instrumented)';
  if (!existsSync(addon)) return `ORTEX_ADDON=${addon} does not exist: run \`npm run build:asan\``;
  if (!readFileSync(addon).includes('__asan_init')) return `${addon} is not an AddressSanitizer build: run \`npm run build:asan\``;
  let libasan = '';
  try {
    libasan = execFileSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  } catch { /* reported below */ }
  if (!libasan.startsWith('/')) return 'the ASan runtime was not found (`g++ -print-file-name=libasan.so`)';
  return { addon, libasan };
}

interface Leak {
  kind: 'Direct' | 'Indirect';
  bytes: number;
  objects: number;
  frames: string[];
}

/** The leak records of an LSan report: each header line with the stack frames under it. */
function parseLeaks(report: string): Leak[] {
  const leaks: Leak[] = [];
  let current: Leak | undefined;
  for (const line of report.split('\n')) {
    const head = /^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)/.exec(line);
    if (head) {
      current = { kind: head[1] as Leak['kind'], bytes: Number(head[2]), objects: Number(head[3]), frames: [] };
      leaks.push(current);
    } else if (current && /^\s+#\d+ /.test(line)) {
      current.frames.push(line.trim());
    } else if (line.trim() === '') {
      current = undefined;
    }
  }
  return leaks;
}

// Every frame ends with its module in brackets (stack_trace_format below), inlined ones too.
const inOrtex = (frame: string): boolean => /\/ortex\.node\]$/.test(frame);

/** Allocated by ortex, or by ONNX Runtime or the C++ library for it; not by V8 for its own heap. */
function isOrtexLeak(leak: Leak): boolean {
  const first = leak.frames.findIndex(inOrtex);
  return first >= 0 && !leak.frames.slice(0, first).some((f) => / in v8::internal::/.test(f));
}

function describeLeaks(leaks: Leak[], max = 5): string {
  return leaks.slice(0, max).map((l) => `${l.kind} leak of ${l.bytes} byte(s) in ${l.objects} object(s):\n  ${l.frames.slice(0, 24).join('\n  ')}`).join('\n\n') +
    (leaks.length > max ? `\n\n... and ${leaks.length - max} more` : '');
}

interface CyclesReport {
  cycles: number;
  sessions: number;
  runs: number;
  runSync: number;
  failedRuns: number;
  failedLoads: number;
  refusedReleases: number;
  bindings: number;
  batchedRequests: number;
  libasan: string | null;
  addon: string | null;
}

function runCycles(addon: string, libasan: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    ORTEX_ADDON: addon,
    LD_PRELOAD: libasan,
    ASAN_OPTIONS: [
      'detect_leaks=1', `exitcode=${LSAN_EXIT_CODE}`, 'fast_unwind_on_malloc=0', 'malloc_context_size=64',
      'stack_trace_format="    #%n %p %F %L [%m]"',
    ].join(':'),
    LSAN_OPTIONS: `suppressions=${SUPPRESSIONS}:print_suppressions=1`,
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    ORT_DISABLE_TELEMETRY: '1',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, ['--expose-gc', SCRIPT, MODELS, String(CYCLES)], { env, timeout: TIMEOUT_MS - 10_000, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      resolve({ code: typeof e?.code === 'number' ? e.code : e ? null : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

const target = sanitizedAddon();

describe.skipIf(typeof target === 'string')(`LeakSanitizer over create/run/release cycles${typeof target === 'string' ? ` (skipped: ${target})` : ''}`, () => {
  it(`reports no leak from ortex.node after ${CYCLES} cycles over every value kind, I/O binding, failed runs and release with runs in flight`, async () => {
    const { addon, libasan } = target as { addon: string; libasan: string };
    const { code, signal, stdout, stderr } = await runCycles(addon, libasan);
    const tail = stderr.split('\n').filter((l) => !l.startsWith('[ortex:ort')).slice(-60).join('\n');

    // The script ran to its end under the ASan runtime, with this addon, and nothing but the
    // leak check made it exit non-zero.
    const finished = signal === null && (code === 0 || code === LSAN_EXIT_CODE);
    expect(finished, `lsan-cycles.mjs exited with code ${code}, signal ${signal}; stderr ends:\n${tail}`).toBe(true);
    // Shown from where it starts, the report's first few thousand characters.
    const found = (re: RegExp): string | null => stderr.match(re)?.[0] ?? null;
    expect(found(/.*(ERROR: AddressSanitizer|runtime error:)[\s\S]{0,4000}/), 'AddressSanitizer or UBSan found an error').toBeNull();
    expect(found(/.*LeakSanitizer has encountered a fatal error[\s\S]{0,2000}/), 'LeakSanitizer could not run (it stops the process with ptrace)').toBeNull();
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as CyclesReport;
    expect(report.libasan, 'the ASan runtime was not mapped: LSan did not run').toMatch(/libasan\.so/);
    expect(report.addon).toBe(addon);
    expect(report).toMatchObject({ cycles: CYCLES, refusedReleases: CYCLES, failedLoads: 2 * CYCLES });
    expect(report.failedRuns).toBeGreaterThanOrEqual(8 * CYCLES);

    const leaks = parseLeaks(stderr);
    const ours = leaks.filter(isOrtexLeak);
    expect(ours.length, `LeakSanitizer found ${ours.length} leak(s) allocated under ortex.node:\n\n${describeLeaks(ours)}`).toBe(0);
  }, TIMEOUT_MS);
});

describe('parseLeaks()', () => {
  it('reads the records of an LSan report and tells the leaks allocated under ortex.node from the others', () => {
    const sample = [
      '==1==ERROR: LeakSanitizer: detected memory leaks',
      '',
      'Direct leak of 100 byte(s) in 1 object(s) allocated from:',
      '    #0 0x7f in operator new[](unsigned long) asan_new_delete.cpp:98 [/usr/lib/x86_64-linux-gnu/libasan.so.8]',
      '    #1 0x7f in ortex::Session::Load() /work/main/native/session.cc:12 [/work/main/build-asan/Release/ortex.node]',
      '    #2 0x55 in node::Start(int, char**) (/usr/bin/node+0xc6) [/usr/bin/node]',
      '',
      'Indirect leak of 14 byte(s) in 2 object(s) allocated from:',
      '    #0 0x7f in malloc [/usr/lib/x86_64-linux-gnu/libasan.so.8]',
      '    #1 0x7f  (/x/libonnxruntime.so.1+0x21e6287) [/x/libonnxruntime.so.1]',
      '    #2 0x7f in ortex::Session::JS_runSyncT(Napi::CallbackInfo const&) /work/main/native/session.cc:400 [/x/ortex.node]',
      '',
      'Direct leak of 56 byte(s) in 1 object(s) allocated from:',
      '    #0 0x7f in operator new(unsigned long) [/usr/lib/x86_64-linux-gnu/libasan.so.8]',
      '    #1 0x11 in v8::internal::SlotSet::Allocate(unsigned long) (/usr/bin/node+0x11) [/usr/bin/node]',
      '    #2 0xc4 in napi_create_object (/usr/bin/node+0xc4) [/usr/bin/node]',
      '    #3 0x7f in ortex::ValueToJs() /work/main/native/value_convert.cc:9 [/x/ortex.node]',
      '',
      'Direct leak of 8 byte(s) in 1 object(s) allocated from:',
      '    #0 0x7f in malloc [/usr/lib/x86_64-linux-gnu/libasan.so.8]',
      '    #1 0x11 in node::Start(int, char**) (/usr/bin/node+0x11) [/usr/bin/node]',
      '',
      'SUMMARY: AddressSanitizer: 178 byte(s) leaked in 4 allocation(s).',
    ].join('\n');
    const leaks = parseLeaks(sample);
    expect(leaks.map((l) => [l.kind, l.bytes, l.objects, l.frames.length])).toEqual([['Direct', 100, 1, 3], ['Indirect', 14, 2, 3], ['Direct', 56, 1, 4], ['Direct', 8, 1, 2]]);
    // Ours: a direct allocation, and one ONNX Runtime made under an ortex frame. Not ours: V8
    // growing its heap during a call from ortex, and Node's own.
    expect(leaks.map(isOrtexLeak)).toEqual([true, true, false, false]);
  });
});
