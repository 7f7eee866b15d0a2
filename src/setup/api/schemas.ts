/** The Tunnels API objects setup reads (https://platform.claude.com/docs/en/api/beta/tunnels), validated on arrival. Unknown fields are ignored. */
import * as v from 'valibot';

const timestamp = v.nullish(v.string());

export const TunnelSchema = v.object({
  id: v.pipe(v.string(), v.regex(/^tnl_[A-Za-z0-9_-]+$/)),
  domain: v.pipe(v.string(), v.minLength(1)),
  display_name: v.nullish(v.string()),
  created_at: v.optional(v.string()),
  archived_at: timestamp,
});
export type Tunnel = v.InferOutput<typeof TunnelSchema>;

export const TunnelTokenSchema = v.object({
  id: v.string(),
  tunnel_token: v.pipe(v.string(), v.minLength(1)),
});
export type TunnelToken = v.InferOutput<typeof TunnelTokenSchema>;

export const TunnelCertificateSchema = v.object({
  id: v.string(),
  fingerprint: v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/)),
  expires_at: timestamp,
  created_at: v.optional(v.string()),
  archived_at: timestamp,
});
export type TunnelCertificate = v.InferOutput<typeof TunnelCertificateSchema>;

export function listSchema<T>(item: v.GenericSchema<unknown, T>) {
  return v.object({ data: v.array(item), next_page: v.nullish(v.string()) });
}
