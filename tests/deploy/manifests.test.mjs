// deploy/'s Kubernetes manifests against the Kubernetes schemas (kubernetes-models, from
// npm; offline), and against dial itself: the flags they pass exist, the probes and ports
// agree, and the pods outlast dial's shutdown timeout. Run: DIAL=path/to/dial node --test
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';

const dir = new URL('../../deploy/k8s/', import.meta.url);
const MODELS = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

function load(name) {
  return parseAllDocuments(readFileSync(new URL(name, dir), 'utf8')).map((d) => {
    if (d.errors.length) throw d.errors[0];
    return d.toJS();
  });
}

const kustomization = load('kustomization.yaml')[0];
const resources = kustomization.resources.flatMap(load);
const find = (kind) => resources.find((r) => r.kind === kind);

function validate(doc) {
  const Model = MODELS[`${doc.apiVersion} ${doc.kind}`];
  assert.ok(Model, `no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

test('every manifest of the kustomization is valid against its Kubernetes schema', () => {
  assert.equal(kustomization.kind, 'Kustomization');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  assert.deepEqual([...kustomization.resources].sort(), files.sort(), 'the kustomization lists every manifest');
  assert.deepEqual(resources.map((r) => r.kind).sort(), ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  for (const doc of resources) validate(doc);
});

test('the schemas catch a broken manifest', () => {
  const broken = structuredClone(find('Deployment'));
  broken.spec.replicas = 'two';
  assert.throws(() => validate(broken), /replicas/);
  const nameless = structuredClone(find('Deployment'));
  delete nameless.spec.template.spec.containers[0].name;
  assert.throws(() => validate(nameless), /name/);
  const hpa = structuredClone(find('HorizontalPodAutoscaler'));
  delete hpa.spec.scaleTargetRef;
  assert.throws(() => validate(hpa), /scaleTargetRef/);
});

test('service, probes, budget and autoscaler point at the same pods and port', () => {
  const deployment = find('Deployment');
  const pod = deployment.spec.template;
  const labels = pod.metadata.labels;
  const matches = (selector) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  assert.ok(matches(deployment.spec.selector.matchLabels));
  assert.ok(matches(find('Service').spec.selector));
  assert.ok(matches(find('PodDisruptionBudget').spec.selector.matchLabels));
  const [dial] = pod.spec.containers;
  const port = dial.ports.find((p) => p.name === 'http');
  assert.ok(dial.args.includes(`--port=${port.containerPort}`) && dial.args.includes('--host=0.0.0.0'));
  assert.equal(find('Service').spec.ports[0].targetPort, 'http');
  for (const probe of [dial.readinessProbe, dial.livenessProbe]) {
    assert.deepEqual(probe.httpGet, { path: '/health', port: 'http' });
  }
  const hpa = find('HorizontalPodAutoscaler');
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  const metric = hpa.spec.metrics[0].pods.metric.name;
  const metrics = readFileSync(new URL('../../crates/server/src/metrics.rs', import.meta.url), 'utf8');
  assert.ok(metrics.includes(`# TYPE ${metric} gauge`), `/metrics exposes the gauge ${metric}`);
  // Non-root, and time for in-flight streams to finish after SIGTERM.
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  const seconds = (flag) => Number(dial.args.find((a) => a.startsWith(`${flag}=`)).split('=')[1]);
  const drain = seconds('--drain-grace') + seconds('--drain-seconds');
  assert.ok(pod.spec.terminationGracePeriodSeconds > drain, 'the kill comes after the drain');
  // The grace outlasts the readiness probe's notice, so the Service stops routing first.
  const notice = dial.readinessProbe.periodSeconds * dial.readinessProbe.failureThreshold;
  assert.ok(seconds('--drain-grace') >= notice, 'the grace outlasts the readiness probe');
});

test('every flag the manifests pass is one dial takes', () => {
  const binary = process.env.DIAL;
  assert.ok(binary, 'set DIAL to the dial binary');
  const pod = find('Deployment').spec.template.spec;
  for (const container of [...pod.initContainers, ...pod.containers]) {
    const [command, ...args] = container.args;
    const help = execFileSync(binary, [command, '--help'], { encoding: 'utf8' });
    for (const arg of args.filter((a) => a.startsWith('--'))) {
      const flag = arg.split('=')[0];
      assert.ok(help.includes(`${flag} `) || help.includes(`${flag}\n`), `dial ${command} takes ${flag}`);
    }
  }
  const containerfile = readFileSync(new URL('../../deploy/Containerfile', import.meta.url), 'utf8');
  assert.match(containerfile, /^USER 10001$/m, 'the image runs as the pods\' user');
  assert.equal(pod.securityContext.runAsUser, 10001);
});
