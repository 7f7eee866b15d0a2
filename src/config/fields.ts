/**
 * Checkers for the scalar fields of `config.yaml`. Each takes the raw value (from YAML, an environment
 * variable or a flag) and returns the converted value or a problem naming the value seen and the fix.
 */
import { LOG_LEVELS, type LogLevel } from '../observability/logger.ts';
import { parseIpRangeResult } from '../net/ip_range.ts';
import { parseDuration } from './duration.ts';
import { checkDnsName } from './hostname.ts';
import { checkListenAddress } from './listen_address.ts';
import { type Checked, type Failed, describeValue, fail, ok, quote, wrongType } from './problem.ts';
import type { ListenAddress } from './types.ts';

export function checkListenAddressValue(value: unknown, key: string): Checked<ListenAddress> {
  if (typeof value === 'number') {
    return fail(`expected a "host:port" string, got ${describeValue(value)}`, `write ${key}: ":${value}"`);
  }
  if (typeof value !== 'string') return wrongType('a "host:port" string', value, `write ${key}: ":8080"`);
  return checkListenAddress(value, key);
}

/** `""` means not set, as in Go, where an empty string is the zero value. */
export function checkOptionalListenAddress(value: unknown, key: string): Checked<ListenAddress | undefined> {
  return value === '' ? ok(undefined) : checkListenAddressValue(value, key);
}

/** Case-insensitive, like Go's `slog.Level.UnmarshalText`. */
export function checkLogLevel(value: unknown): Checked<LogLevel> {
  const hint = `use one of ${LOG_LEVELS.join(', ')} (the default is info)`;
  if (typeof value !== 'string') return wrongType('a log level string', value, hint);
  const level = LOG_LEVELS.find((candidate) => candidate === value.toLowerCase());
  return level === undefined ? fail(`${quote(value)} is not a log level`, hint) : ok(level);
}

/** A Go duration in milliseconds; zero is allowed (do not wait), negative is not. */
export function checkDuration(value: unknown, key: string): Checked<number> {
  if (typeof value === 'number') {
    return fail(
      `${describeValue(value)} is not a duration: it has no unit`,
      `write a Go duration with a unit, e.g. ${key}: ${value}s`,
    );
  }
  if (typeof value !== 'string') return wrongType('a duration string', value, `write a Go duration, e.g. ${key}: 30s`);
  if (value.startsWith('-')) {
    return fail(`${quote(value)} is negative`, 'use zero (do not wait) or a positive duration such as 30s');
  }
  const ms = parseDuration(value.startsWith('+') ? value.slice(1) : value);
  if (ms === undefined) {
    return fail(
      `${quote(value)} is not a Go duration`,
      'write numbers with units ns, us, ms, s, m or h, e.g. 30s, 1m30s or 500ms',
    );
  }
  return ok(ms);
}

/** Lower-cased and without a trailing dot; `""` means not set, as in Go. */
export function checkTunnelDomain(value: unknown): Checked<string | undefined> {
  const example = 'abcd1234.tunnel.anthropic.com';
  if (typeof value !== 'string') return wrongType('a domain name string', value, `write tunnel_domain: ${example}`);
  if (value === '') return ok(undefined);
  const name = value.toLowerCase();
  return checkDnsName(name.endsWith('.') ? name.slice(0, -1) : name, 'tunnel_domain', example);
}

export function checkFilePath(value: unknown, key: string, example: string): Checked<string> {
  if (typeof value !== 'string') return wrongType('a file path string', value, `write ${key}: ${example}`);
  if (value === '') return fail(`${key} is empty`, `write the path of the file, e.g. ${key}: ${example}`);
  return ok(value);
}

/** An optional path; `""` means not set. */
export function checkOptionalFilePath(value: unknown, key: string, example: string): Checked<string | undefined> {
  return value === '' ? ok(undefined) : checkFilePath(value, key, example);
}

/** One `upstream.allowed_ips` entry: kept as written; the IP policy parses it again when it is built. */
export function checkAllowedIp(value: unknown): Checked<string> {
  const hint = 'write an IPv4 or IPv6 CIDR such as 10.0.0.0/8, or a single address such as 10.0.12.7';
  if (typeof value !== 'string') return wrongType('a CIDR or IP address string', value, hint);
  const range = parseIpRangeResult(value);
  return range.ok ? ok(value) : fail(range.problem, hint);
}

export function allowedIpsEmpty(value: unknown): Failed {
  return fail(
    `allowed_ips is ${Array.isArray(value) ? 'an empty list' : describeValue(value)}, which would refuse every upstream`,
    'remove the allowed_ips key to use the default (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), ' +
      'or list the ranges your upstreams resolve to',
  );
}

export function checkFlag(value: unknown, key: string): Checked<boolean> {
  return typeof value === 'boolean' ? ok(value) : wrongType('true or false', value, `write ${key}: true or ${key}: false`);
}
