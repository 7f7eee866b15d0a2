/**
 * How a pod reaches its Kubernetes API: `KUBERNETES_SERVICE_HOST`/`_PORT`, and the service-account
 * token, cluster CA and namespace from the standard mount.
 */
import { SetupOutputError } from '../errors.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface InClusterConfig {
  readonly baseUrl: URL;
  readonly namespace: string;
  /** Never logged. */
  readonly token: string;
  readonly caPem: string;
}

export async function loadInClusterConfig(
  env: Readonly<Record<string, string | undefined>>,
  files: { readTextFile(path: string): Promise<string> },
  serviceAccountDir: string,
): Promise<InClusterConfig> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  if (!host) {
    throw new SetupOutputError(
      'KUBERNETES_API',
      'k8s-secret: output needs the in-cluster Kubernetes API, but KUBERNETES_SERVICE_HOST is not set (setup is not running in a pod); ' +
        'run setup in the cluster (the Helm chart\'s Job does) or use --output=dir:/path',
    );
  }
  if (!/^\d{1,5}$/.test(port)) {
    throw new SetupOutputError('KUBERNETES_API', `KUBERNETES_SERVICE_PORT ${JSON.stringify(port)} is not a port number; unset it or fix it`);
  }
  const read = async (name: string) => {
    const path = `${serviceAccountDir}/${name}`;
    try {
      return await files.readTextFile(path);
    } catch (error) {
      throw new SetupOutputError(
        'KUBERNETES_API',
        `cannot read the service-account ${name} at ${path}: ${(error as Error).message}; the pod needs its service-account token mounted ` +
          '(automountServiceAccountToken must not be false for the setup ServiceAccount)',
      );
    }
  };
  const [token, caPem, namespace] = [(await read('token')).trim(), await read('ca.crt'), (await read('namespace')).trim()];
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return { baseUrl: new URL(`https://${bracketed}:${port}/`), namespace, token, caPem };
}
