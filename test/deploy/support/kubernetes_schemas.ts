/**
 * Checks rendered Kubernetes objects offline, two ways:
 *
 * - against the API's OpenAPI schemas, as compiled to Ajv validators by the `kubernetes-models` package
 *   (and, for the Prometheus Operator's ServiceMonitor and PodMonitor, by `@kubernetes-models/
 *   prometheus-operator`, generated from the operator's CRD schemas): types, required fields, enums,
 *   formats, at any depth;
 * - for fields the API does not know (a misspelt `readinesProbe`, which the schemas allow and the API
 *   server drops or, under strict field validation, refuses): TypeScript's excess-property check of
 *   each object, written as a literal, against the same package's declared types.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../../support/runtimes.ts';

export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { readonly name?: string };
  readonly [field: string]: unknown;
}

/** The module of `kubernetes-models` (or the operator's models) that declares `apiVersion`/`kind`. */
export function modelModule(object: KubernetesObject): string {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : [undefined, object.apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${object.kind}`;
  return `kubernetes-models/${group === undefined ? '' : `${group}/`}${version}/${object.kind}`;
}

interface ValidatingModel {
  validate(): void;
}
type ModelClass = new (data: unknown) => ValidatingModel;

/** Schema violations of `object` (empty when it is valid); throws when no schema exists for its kind. */
export async function schemaErrors(object: KubernetesObject): Promise<string[]> {
  const module = (await import(modelModule(object))) as Record<string, ModelClass | undefined>;
  const Model = module[object.kind];
  if (Model === undefined) throw new Error(`${modelModule(object)} has no model ${object.kind}`);
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return String((error as Error).message).split('\n').filter((line) => line.trim() !== '');
  }
}

/**
 * Fields the API does not declare, per object (keyed by `label`); an object without findings is absent.
 * One TypeScript program checks them all: each becomes `const x: I<Kind> = <object as a literal>`.
 */
export function unknownFields(objects: ReadonlyArray<{ readonly label: string; readonly object: KubernetesObject }>): Map<string, string[]> {
  // Under node_modules/, so the module names resolve as the test's own imports do.
  const directory = join(ROOT, 'node_modules/.cache/mcp-tunnel-proxy', `kubernetes-fields-${process.pid}`);
  mkdirSync(directory, { recursive: true });
  const file = join(directory, 'objects.ts');
  const lines: string[] = [];
  const owners: string[] = [];
  const modules = [...new Set(objects.map(({ object }) => modelModule(object)))];
  modules.forEach((module, i) => {
    lines.push(`import type { I${module.split('/').pop()} as T${i} } from ${JSON.stringify(module)};`);
    owners.push('');
  });
  objects.forEach(({ label, object }, i) => {
    // One line per object, so a diagnostic's line names its object.
    lines.push(`export const o${i}: T${modules.indexOf(modelModule(object))} = ${JSON.stringify(object)};`);
    owners.push(label);
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    });
    const found = new Map<string, string[]>();
    for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
      const line = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
      const owner = owners[line];
      if (owner === undefined || owner === '') throw new Error(`the field check itself failed: ${message}`);
      found.set(owner, [...(found.get(owner) ?? []), message]);
    }
    return found;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
