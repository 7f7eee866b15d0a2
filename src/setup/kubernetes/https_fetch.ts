/**
 * A `fetch` that trusts one CA: the cluster CA for the in-cluster Kubernetes API. Web `fetch` has no
 * portable way to add a trust anchor, so this speaks HTTPS through the node:https client, which Node,
 * Bun and Deno all implement with the `ca` option. Only what the Secrets client needs: a string body,
 * plain headers, an abort signal; no redirects.
 */
import https from 'node:https';
import type { FetchLike } from '../http/send_with_retry.ts';

export function httpsFetchTrusting(caPem: string): FetchLike {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const request = https.request(
        url,
        {
          method: init.method ?? 'GET',
          // The Secrets client passes headers as a plain record (send_with_retry.ts), never a Headers object.
          headers: init.headers as Record<string, string> | undefined,
          ca: caPem,
          signal: init.signal ?? undefined,
        },
        (message) => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(message.headers)) {
            if (Array.isArray(value)) for (const item of value) headers.append(name, item);
            else if (value !== undefined) headers.set(name, value);
          }
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              message.on('data', (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
              message.on('end', () => controller.close());
              message.on('error', (error) => controller.error(error));
            },
            cancel() {
              message.destroy();
            },
          });
          const status = message.statusCode ?? 0;
          const empty = status === 204 || status === 304;
          if (empty) message.resume();
          resolve(new Response(empty ? null : body, { status, headers }));
        },
      );
      request.on('error', reject);
      request.end(typeof init.body === 'string' ? init.body : undefined);
    });
}
