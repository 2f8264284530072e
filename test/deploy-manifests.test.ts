// The deployment files: every manifest under deploy/ validated offline against the Kubernetes
// OpenAPI schemas (kubernetes-models' validators), their cross-references checked (selectors,
// ports, probes, the HPA's target and metric, the container's flags parsed by `ortex serve`'s
// own parser), the probes, metrics and HEALTHCHECK tried against a real `ortex serve`, and the
// Dockerfile's paths checked against the built package. No cluster and no Docker needed.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../src/cli/node-flags.js';
import { ROOT, type ServeProcess, startServe } from './fixtures/serve-process.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Manifest {
  file: string;
  doc: Obj;
}

const DEPLOY = join(ROOT, 'deploy');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/** Every YAML document under deploy/; a YAML error fails here. */
function loadManifests(): Manifest[] {
  return yamlFiles(DEPLOY).flatMap((path) => {
    const file = relative(ROOT, path);
    return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      return { file, doc: d.toJS() as Obj };
    });
  });
}

/** The kubernetes-models class of an apiVersion and kind (e.g. apps/v1 Deployment). */
async function modelClass(apiVersion: string, kind: string): Promise<new (data: Obj) => { validate(): void }> {
  // kubernetes-models/<group>/<version>, and kubernetes-models/v1 for the core group.
  const path = `kubernetes-models/${apiVersion}`;
  let mod: Obj;
  try {
    mod = (await import(path)) as Obj;
  } catch {
    throw new Error(`No Kubernetes schema for apiVersion ${apiVersion}`);
  }
  if (typeof mod[kind] !== 'function') throw new Error(`No Kubernetes schema for ${apiVersion} ${kind}`);
  return mod[kind] as new (data: Obj) => { validate(): void };
}

/** Validates one Kubernetes object against its schema; resolves with the errors ('' if none). */
async function schemaErrors(doc: Obj): Promise<string> {
  const Model = await modelClass(String(doc.apiVersion), String(doc.kind));
  try {
    new Model(doc).validate();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

const clone = <T>(v: T): T => structuredClone(v);

/** `ortex serve`'s parser with every flag the CLI registers (each src/cli/*-flags.ts). */
async function serveParser() {
  for (const f of readdirSync(join(ROOT, 'src/cli')).filter((n) => n.endsWith('-flags.ts'))) await import(`../src/cli/${f}`);
  const { parseServeArgs } = await import('../src/cli/serve-options.js');
  const { SERVE_EXTENSIONS } = await import('../src/cli/serve-extensions.js');
  return async (argv: readonly string[]) => {
    const args = parseServeArgs(argv);
    const options = { ...args.options };
    for (const ext of SERVE_EXTENSIONS) await ext.configure?.(args.values, options);
    return { ...args, options };
  };
}

/** `--flag value` from an argument list. */
function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
}

/** argv with `--name value` replaced (or dropped when value is undefined). */
function withFlag(argv: readonly string[], name: string, value: string | undefined): string[] {
  const i = argv.indexOf(`--${name}`);
  const rest = i < 0 ? [...argv] : [...argv.slice(0, i), ...argv.slice(i + 2)];
  return value === undefined ? rest : [...rest, `--${name}`, value];
}

const manifests = loadManifests();
const byKind = (kind: string, name?: string): Manifest[] => manifests.filter((m) => m.doc.kind === kind && (name === undefined || m.doc.metadata?.name === name));
const one = (kind: string, name: string): Obj => {
  const found = byKind(kind, name);
  expect(found, `${kind} ${name} in deploy/`).toHaveLength(1);
  return found[0]!.doc;
};
const matches = (selector: Obj, labels: Obj) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/ manifests: Kubernetes schemas', () => {
  it('finds the manifests', () => {
    const kinds = manifests.map((m) => m.doc.kind);
    for (const k of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ConfigMap', 'Kustomization']) expect(kinds).toContain(k);
  });

  it('validates every manifest against the schema of its apiVersion and kind', async () => {
    for (const { file, doc } of manifests) {
      if (doc.kind === 'Kustomization') continue; // not an API object: checked below
      expect(doc.metadata?.name, `${file}: metadata.name`).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(await schemaErrors(doc), `${file}: ${doc.apiVersion} ${doc.kind} ${doc.metadata?.name}`).toBe('');
    }
  });

  it('rejects, with the same validator, a wrong field type, a missing required field and an unknown kind', async () => {
    const deployment = one('Deployment', 'ortex');
    const badPort = clone(deployment);
    badPort.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(await schemaErrors(badPort)).toMatch(/containerPort must be integer/);
    const noSelector = clone(deployment);
    delete noSelector.spec.selector;
    expect(await schemaErrors(noSelector)).toMatch(/must have required property 'selector'|required property selector/);
    const hpa = clone(one('HorizontalPodAutoscaler', 'ortex'));
    hpa.spec.maxReplicas = '10';
    expect(await schemaErrors(hpa)).toMatch(/maxReplicas must be integer/);
    const noContainers = clone(deployment);
    delete noContainers.spec.template.spec.containers;
    expect(await schemaErrors(noContainers)).toMatch(/containers/);
    await expect(schemaErrors({ apiVersion: 'autoscaling/v3', kind: 'HorizontalPodAutoscaler' })).rejects.toThrow(/No Kubernetes schema/);
  });

  it('lists every manifest file in kustomization.yaml, and only files that exist', () => {
    for (const k of byKind('Kustomization')) {
      const dir = join(ROOT, k.file, '..');
      const listed = (k.doc.resources as string[]).map((r) => join(dir, r));
      for (const r of listed) expect(existsSync(r), r).toBe(true);
      const here = yamlFiles(dir).filter((f) => !/kustomization\.ya?ml$/.test(f));
      expect([...listed].sort()).toEqual(here.sort());
    }
  });
});

describe('deploy/ manifests: cross-references', () => {
  const deployment = one('Deployment', 'ortex');
  const pod = deployment.spec.template;
  const container = pod.spec.containers.find((c: Obj) => c.name === 'ortex') as Obj;
  const args = container.args as string[];
  const portNamed = (p: string | number): number => (typeof p === 'number' ? p : (container.ports as Obj[]).find((cp) => cp.name === p)!.containerPort);

  it('selects the Deployment\'s pods from its own selector, the Service and the PodDisruptionBudget', () => {
    expect(matches(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(matches(one('Service', 'ortex').spec.selector, pod.metadata.labels)).toBe(true);
    expect(matches(one('PodDisruptionBudget', 'ortex').spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const redis = one('Deployment', 'ortex-redis');
    expect(matches(one('Service', 'ortex-redis').spec.selector, redis.spec.template.metadata.labels)).toBe(true);
    // And the Service does not also select the Redis pods.
    expect(matches(one('Service', 'ortex').spec.selector, redis.spec.template.metadata.labels)).toBe(false);
  });

  it('runs `ortex serve` with flags its own parser accepts, on the ports the Service and probes use', async () => {
    expect(args[0]).toBe('serve');
    const parse = await serveParser();
    const parsed = await parse(args.slice(1));
    expect(parsed.options).toMatchObject({ host: '0.0.0.0', port: 8000, metrics: { port: 8002 }, repository: '/app/models/repository' });
    expect(portNamed('http')).toBe(parsed.options.port);
    expect(portNamed('metrics')).toBe(8002);
    for (const p of one('Service', 'ortex').spec.ports as Obj[]) expect(container.ports.map((c: Obj) => c.name)).toContain(p.targetPort);
    expect(pod.metadata.annotations['prometheus.io/port']).toBe(flag(args, 'metrics-port'));
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(portNamed(container[probe].httpGet.port)).toBe(parsed.options.port);
    expect(container.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/v2/health/live');
    // A flag `ortex serve` does not know is a usage error, so the same parser would catch a typo.
    await expect(parse([...args.slice(1), '--metric-port', '1'])).rejects.toThrow(/Unknown option '--metric-port'/);
  });

  it('points --redis at the Redis Service', () => {
    const url = new URL(flag(args, 'redis')!);
    const redisService = one('Service', url.hostname);
    expect(redisService.spec.ports.map((p: Obj) => p.port)).toContain(Number(url.port));
  });

  it('runs as non-root with a read-only root file system, within resource limits', () => {
    for (const d of byKind('Deployment')) {
      const spec = d.doc.spec.template.spec;
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      for (const c of spec.containers as Obj[]) {
        expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c.resources.requests).toBeDefined();
        expect(c.resources.limits).toBeDefined();
      }
    }
    // The drain (30 s) fits in the grace period, with the preStop pause.
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(30 + Number(container.lifecycle.preStop.exec.command[1]));
  });

  it('autoscales the Deployment on CPU and on the pending-requests metric the adapter serves', () => {
    const hpa = one('HorizontalPodAutoscaler', 'ortex');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.metrics.find((m: Obj) => m.type === 'Resource').resource.name).toBe('cpu');
    const pods = hpa.spec.metrics.find((m: Obj) => m.type === 'Pods').pods;
    expect(pods.metric.name).toBe('ortex_pending_requests');
    const adapter = parseAllDocuments(one('ConfigMap', 'adapter-config').data['config.yaml'])[0]!.toJS() as Obj;
    const rule = (adapter.rules as Obj[]).find((r) => r.name.as === pods.metric.name)!;
    expect(rule.seriesQuery).toMatch(/^ortex_pending_requests\{/);
    expect(rule.resources.overrides.pod.resource).toBe('pod');
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(one('PodDisruptionBudget', 'ortex').spec.minAvailable + 1);
  });

  it('carries the Grafana dashboard as it is in dashboards/', () => {
    const cm = one('ConfigMap', 'ortex-grafana-dashboard');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm.data['ortex-grafana.json']).toBe(readFileSync(join(ROOT, 'dashboards/ortex-grafana.json'), 'utf8'));
  });
});

// ---- The Dockerfile ----

interface Instruction {
  stage: string;
  op: string;
  rest: string;
}

/** The Dockerfile's instructions (continuations joined, comments dropped), each with its stage. */
function dockerfile(): Instruction[] {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() !== '');
  let stage = '';
  return joined.map((l) => {
    const m = /^\s*(\w+)\s+(.*)$/.exec(l)!;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage = /\sAS\s+(\S+)/i.exec(m[2]!)?.[1] ?? '';
    return { stage, op, rest: m[2]!.trim() };
  });
}

describe('Dockerfile', () => {
  const ins = dockerfile();
  const runtime = ins.filter((i) => i.stage === 'runtime');
  const last = (op: string) => runtime.filter((i) => i.op === op).at(-1)!;
  const entrypoint = JSON.parse(last('ENTRYPOINT').rest) as string[];
  const cmd = JSON.parse(last('CMD').rest) as string[];
  const inPackage = (path: string) => join(ROOT, path.replace(/^\/app\//, ''));

  it('builds from node:20-bookworm-slim in two stages and runs as a non-root user', () => {
    expect(ins.find((i) => i.op === 'ARG')!.rest).toBe('NODE_IMAGE=node:20-bookworm-slim');
    expect(ins.filter((i) => i.op === 'FROM').map((i) => i.rest)).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
    expect(ins.some((i) => i.stage === 'build' && i.op === 'RUN' && /apt-get install .*cmake g\+\+ make/.test(i.rest))).toBe(true);
    expect(last('USER').rest).toBe('node');
    // Nothing in the runtime stage after USER runs as root or installs anything.
    expect(runtime.some((i) => i.op === 'RUN' && /apt-get/.test(i.rest))).toBe(false);
  });

  it('starts the CLI of the built package, with the node flags it ships with and flags `ortex serve` accepts', async () => {
    expect(entrypoint).toEqual(['node', ...SERVE_NODE_FLAGS, '/app/dist/src/cli/ortex.js']);
    expect(existsSync(inPackage(entrypoint.at(-1)!)), `${entrypoint.at(-1)} (build with npx tsc -p .)`).toBe(true);
    expect(cmd[0]).toBe('serve');
    const parsed = await (await serveParser())(cmd.slice(1));
    expect(parsed.options).toMatchObject({ host: '0.0.0.0', port: 8000, repository: '/app/models/repository' });
    expect(existsSync(join(inPackage(parsed.options.repository), 'ctr_mlp', 'config.pbtxt'))).toBe(true);
    // The Deployment's args replace this CMD: same port.
    expect(flag(one('Deployment', 'ortex').spec.template.spec.containers[0].args, 'port')).toBe(flag(cmd, 'port'));
  });

  it('stages the files the runtime needs, which the build produces', () => {
    const stage = ins.find((i) => i.op === 'RUN' && i.rest.includes('/out/build/Release'))!.rest;
    // [what the staging step copies, a file of it the runtime needs]
    const staged = [
      ['build/Release/ortex.node', 'build/Release/ortex.node'],
      ['build/Release/libonnxruntime*.so*', 'build/Release/libonnxruntime.so.1'],
      ['dist/src', 'dist/src/cli/ortex.js'],
      ['models/repository', 'models/repository/ctr_mlp/config.pbtxt'],
      ['package.json', 'package.json'],
      ['node_modules', 'node_modules/@trufflesuite/uws-js-unofficial/binaries/uws_linux_x64_115.node'],
    ];
    for (const [copied, needed] of staged) {
      expect(stage, `${copied} staged`).toContain(` ${copied} `);
      expect(existsSync(join(ROOT, needed!)), `${needed} exists after npm run build`).toBe(true);
    }
    expect(ins.find((i) => i.stage === 'runtime' && i.op === 'COPY')!.rest).toBe('--from=build /out/ /app/');
  });

  it('keeps in the build context every path the build stage copies (.dockerignore)', () => {
    const keep = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const sources = ins.filter((i) => i.op === 'COPY' && !i.rest.startsWith('--from')).flatMap((i) => i.rest.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const s of sources) expect(keep.some((k) => k === s || k.startsWith(`${s}/`)), `${s} in .dockerignore's exceptions`).toBe(true);
  });

  describe('HEALTHCHECK against a real ortex serve', () => {
    const healthcheck = runtime.find((i) => i.op === 'HEALTHCHECK')!.rest;
    const probe = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD') + 3).trim()) as string[];
    let s: ServeProcess;
    beforeAll(async () => {
      s = await startServe([]);
    });
    afterAll(() => {
      s?.child.kill('SIGKILL');
    });
    const runProbe = (port: number) => {
      const script = probe[2]!.replace(':8000/', `:${port}/`);
      return spawnSync(probe[0] === 'node' ? process.execPath : probe[0]!, [probe[1]!, script], { encoding: 'utf8', timeout: 10_000 }).status;
    };

    it('asks /v2/health/live on the CMD\'s port with node (the image has no curl), exiting 0 when live and 1 when not', async () => {
      expect(probe.slice(0, 2)).toEqual(['node', '-e']);
      expect(probe[2]).toContain(`http://127.0.0.1:${flag(cmd, 'port')}/v2/health/live`);
      expect(runProbe(s.port)).toBe(0);
      s.child.kill('SIGTERM');
      await s.exited;
      expect(runProbe(s.port)).toBe(1);
    });
  });
});

describe('deploy/ manifests against a real ortex serve', () => {
  const container = one('Deployment', 'ortex').spec.template.spec.containers[0] as Obj;
  let s: ServeProcess;
  beforeAll(async () => {
    // The Deployment's own arguments, on free local ports, the bundled repository, no Redis.
    let argv = (container.args as string[]).slice(1);
    argv = withFlag(withFlag(withFlag(withFlag(withFlag(argv, 'host', '127.0.0.1'), 'port', undefined), 'metrics-port', '0'), 'repo', undefined), 'redis', undefined);
    s = await startServe(argv);
  });
  afterAll(() => {
    s?.child.kill('SIGKILL');
  });

  it('answers the probes\' paths with 200 and serves the HPA\'s metric on the metrics port', async () => {
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const res = await fetch(`http://127.0.0.1:${s.port}${container[probe].httpGet.path as string}`);
      expect(res.status, probe).toBe(200);
    }
    const metricsPort = s.ready.metricsPort as number;
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}${one('Deployment', 'ortex').spec.template.metadata.annotations['prometheus.io/path'] as string}`)).text();
    const metric = one('HorizontalPodAutoscaler', 'ortex').spec.metrics.find((m: Obj) => m.type === 'Pods').pods.metric.name as string;
    expect(text).toMatch(new RegExp(`^# TYPE ${metric} gauge$`, 'm'));
    expect(text).toMatch(new RegExp(`^${metric}\\{model="ctr_mlp",version="1"\\} \\d+$`, 'm'));
  });
});
