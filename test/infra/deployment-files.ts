import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}

export const KUBERNETES_DIR = repoPath('infra', 'kubernetes');
export const COMPOSE_FILE = repoPath('infra', 'compose', 'compose.yaml');
export const CONTAINERFILE = repoPath('infra', 'container', 'Containerfile');
export const AGENT_UNIT = repoPath('infra', 'systemd', 'fleetpmap-agent.service');
export const SERVER_UNIT = repoPath('infra', 'systemd', 'fleetpmap-server.service');

/** The images keep the repository at this path; commands name files under it. */
export const IMAGE_REPO_ROOT = '/opt/fleetpmap/';

/** A repository file named by its path inside the images. */
export function repoPathOfImagePath(imagePath: string): string | undefined {
  return imagePath.startsWith(IMAGE_REPO_ROOT)
    ? repoPath(imagePath.slice(IMAGE_REPO_ROOT.length))
    : undefined;
}

export type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
};

export type HttpProbe = { httpGet?: { path: string; port: string | number } };

export type Container = {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
  livenessProbe?: HttpProbe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsUser?: number;
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
};

export type Volume = {
  name: string;
  emptyDir?: Record<string, unknown>;
  hostPath?: { path: string; type?: string };
  secret?: { secretName: string; defaultMode?: number };
};

export type PodSpec = {
  hostPID?: boolean;
  hostNetwork?: boolean;
  enableServiceLinks?: boolean;
  tolerations?: { operator?: string; key?: string; effect?: string }[];
  securityContext?: {
    runAsUser?: number;
    runAsNonRoot?: boolean;
    seccompProfile?: { type: string };
  };
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
};

export type KubernetesObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    template?: { spec: PodSpec };
    selector?: Record<string, unknown>;
    ports?: { name?: string; port: number; targetPort?: string | number }[];
  };
};

/** kubectl reads YAML 1.1 (sigs.k8s.io/yaml), where `defaultMode: 0400` is octal. */
function readYamlDocuments(path: string, version: '1.1' | '1.2'): unknown[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'), { version });
  if (!Array.isArray(documents)) return [];
  return documents.map((document) => {
    const [error] = document.errors;
    if (error) throw new Error(`${path}: ${error.message}`);
    return document.toJS();
  });
}

/** The manifests of infra/kubernetes, each object with the file it is in. */
export function kubernetesObjects(): { file: string; object: KubernetesObject }[] {
  return kubernetesManifestFiles().flatMap((file) =>
    readYamlDocuments(join(KUBERNETES_DIR, file), '1.1')
      .filter((object) => object !== null)
      .map((object) => ({ file, object: object as KubernetesObject })),
  );
}

export function kubernetesManifestFiles(): string[] {
  return readdirSync(KUBERNETES_DIR)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort();
}

export function kustomization(): { resources: string[]; images?: { name: string }[] } {
  return readYamlDocuments(join(KUBERNETES_DIR, 'kustomization.yaml'), '1.1')[0] as {
    resources: string[];
    images?: { name: string }[];
  };
}

export function kubernetesObject(kind: string, name: string): KubernetesObject {
  const found = kubernetesObjects().find(
    ({ object }) => object.kind === kind && object.metadata.name === name,
  );
  if (!found) throw new Error(`no ${kind} ${name} in infra/kubernetes`);
  return found.object;
}

export function podSpecOf(object: KubernetesObject): PodSpec {
  const spec = object.spec?.template?.spec;
  if (!spec) throw new Error(`${object.kind} ${object.metadata.name} has no pod template`);
  return spec;
}

export function containerOf(object: KubernetesObject, name: string): Container {
  const container = podSpecOf(object).containers.find((c) => c.name === name);
  if (!container) throw new Error(`${object.metadata.name} has no container ${name}`);
  return container;
}

export const serverDeployment = () => kubernetesObject('Deployment', 'fleetpmap-server');
export const serverService = () => kubernetesObject('Service', 'fleetpmap-server');
export const agentDaemonSet = () => kubernetesObject('DaemonSet', 'fleetpmap-agent');
export const serverContainer = () => containerOf(serverDeployment(), 'server');
export const agentContainer = () => containerOf(agentDaemonSet(), 'agent');

/**
 * A container's environment as the process would see it, with Secret values and downward-API
 * fields replaced by the stand-ins given; any other source fails the calling test.
 */
export function environmentOf(
  container: Container,
  standIns: { secrets?: Record<string, string>; fields?: Record<string, string> } = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) {
    const secret = v.valueFrom?.secretKeyRef;
    const field = v.valueFrom?.fieldRef;
    const value =
      v.value ??
      (secret ? standIns.secrets?.[`${secret.name}/${secret.key}`] : undefined) ??
      (field ? standIns.fields?.[field.fieldPath] : undefined);
    if (value === undefined) throw new Error(`no stand-in for ${v.name} of ${container.name}`);
    env[v.name] = value;
  }
  return env;
}

export type ComposeService = {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  environment?: Record<string, string>;
  user?: string;
  pid?: string;
  uts?: string;
  cgroup?: string;
  read_only?: boolean;
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean;
  security_opt?: string[];
  secrets?: (string | { source: string; target?: string })[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
};

export type ComposeProject = {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string }>;
  volumes?: Record<string, unknown>;
};

/** Compose reads YAML 1.2 (go-yaml v3). */
export function composeProject(): ComposeProject {
  return readYamlDocuments(COMPOSE_FILE, '1.2')[0] as ComposeProject;
}

export function composeService(name: string): ComposeService {
  const service = composeProject().services[name];
  if (!service) throw new Error(`no service ${name} in compose.yaml`);
  return service;
}

export type BuildStage = { name: string | null; base: string; instructions: Instruction[] };

/** The Containerfile's stages, each with its instructions after its FROM. */
export function containerfileStages(): BuildStage[] {
  const dockerfile = DockerfileParser.parse(readFileSync(CONTAINERFILE, 'utf8'));
  const stages: BuildStage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = dockerfile
        .getFROMs()
        .find((f) => f.getRange().start.line === instruction.getRange().start.line);
      stages.push({
        name: from?.getBuildStage() ?? null,
        base: from?.getImage() ?? '',
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

export function containerfileStage(name: string): BuildStage {
  const stage = containerfileStages().find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name} in the Containerfile`);
  return stage;
}

/** The words of a JSON-form instruction (ENTRYPOINT, CMD), or of a plain one split at spaces. */
export function wordsOf(instruction: Instruction): string[] {
  const json = (instruction as { getJSONStrings?: () => { getJSONValue(): string }[] })
    .getJSONStrings?.()
    .map((s) => s.getJSONValue());
  return json && json.length > 0 ? json : instruction.getArguments().map((a) => a.getValue());
}

/** `Key=value` lines of a systemd unit, every value of a repeated key in order. */
export function systemdDirectives(path: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!match?.[1]) continue;
    directives.set(match[1], [...(directives.get(match[1]) ?? []), match[2] ?? '']);
  }
  return directives;
}

/**
 * The words of one `Environment=` value as systemd splits them: at white space, outside single
 * or double quotes, with backslash escapes. `A=1 "B=two words"` is `A=1` and `B=two words`.
 */
export function systemdEnvironmentWords(value: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && i + 1 < value.length && quote !== "'") {
      word += value[++i];
      inWord = true;
    } else if (quote !== null) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== null) throw new Error(`unterminated quote in Environment=${value}`);
  if (inWord) words.push(word);
  return words;
}

export type UnitVariable = { name: string; value: string; line: string };

/**
 * The variables a unit sets with `Environment=`, and those its comments offer: a commented-out
 * `Environment=` line, or a `NAME=value` line of an EnvironmentFile= example. An operator copies
 * those as they stand, so a wrong name there is as wrong as in the unit.
 */
export function unitEnvironment(path: string): UnitVariable[] {
  const out: UnitVariable[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const directive = /^#?\s*Environment=(.*)$/.exec(line.trim());
    if (directive) {
      for (const word of systemdEnvironmentWords(directive[1] ?? '')) {
        const eq = word.indexOf('=');
        if (eq <= 0) throw new Error(`${path}: not NAME=value in ${line}`);
        out.push({ name: word.slice(0, eq), value: word.slice(eq + 1), line });
      }
      continue;
    }
    const example = /^#\s*([A-Z][A-Z0-9_]*)=(\S*)$/.exec(line.trim());
    if (example?.[1]) out.push({ name: example[1], value: example[2] ?? '', line });
  }
  return out;
}

/** A unit's capability set in Kubernetes and Compose spelling (`CAP_SYS_PTRACE` → `SYS_PTRACE`). */
export function unitCapabilities(path: string, key: string): string[] {
  return (systemdDirectives(path).get(key) ?? [])
    .flatMap((v) => v.split(/\s+/))
    .filter((c) => c !== '')
    .map((c) => c.replace(/^CAP_/, ''))
    .sort();
}
