/**
 * The two renderings of a check report. The table is for people: one line per check, aligned, the fix
 * after the detail, a multi-line fix (a YAML example) continued underneath. The JSON is for scripts:
 * the report as is, `{ ok, checks: [{ id, status, subject, message, fix?, file?, line?, column? }] }`.
 */
import type { CheckReport, CheckResult } from './check_result.ts';

const STATUS_TEXT = { ok: 'OK', warn: 'WARN', fail: 'FAIL' } as const;

export function formatJson(report: CheckReport): string {
  const checks = report.checks.map((check) => ({
    id: check.id,
    status: check.status,
    subject: check.subject,
    message: check.message,
    ...(check.fix === undefined ? {} : { fix: check.fix }),
    ...(check.file === undefined ? {} : { file: check.file }),
    ...(check.line === undefined ? {} : { line: check.line }),
    ...(check.column === undefined ? {} : { column: check.column }),
  }));
  return `${JSON.stringify({ ok: report.ok, checks }, null, 2)}\n`;
}

export function formatTable(report: CheckReport): string {
  const rows = report.checks.map((check) => [STATUS_TEXT[check.status], check.id, subjectOf(check)] as const);
  // The status column is always four wide, so reports of different runs line up the same way.
  const widths = [4, ...[1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length), 0))];
  const lines: string[] = [];
  report.checks.forEach((check, index) => {
    const head = rows[index]!.map((cell, column) => cell.padEnd(widths[column]!)).join('  ');
    const [first = '', ...more] = detailOf(check).split('\n');
    lines.push(`${head}  ${first}`.trimEnd());
    const indent = ' '.repeat(head.length + 2);
    for (const line of more) lines.push(`${indent}${line}`.trimEnd());
  });
  lines.push('', summaryOf(report));
  return `${lines.join('\n')}\n`;
}

function subjectOf(check: CheckResult): string {
  if (check.file === undefined || check.line === undefined) return check.subject;
  const where = `${check.file}:${check.line}`;
  return check.subject === check.file ? where : `${where} ${check.subject}`;
}

function detailOf(check: CheckResult): string {
  return check.fix === undefined ? check.message : `${check.message}. Fix: ${check.fix}`;
}

function summaryOf(report: CheckReport): string {
  const count = (status: CheckResult['status']) => report.checks.filter((check) => check.status === status).length;
  const failures = count('fail');
  const warnings = count('warn');
  const parts = [
    `${failures} failed`,
    `${warnings} warning${warnings === 1 ? '' : 's'}`,
    `${count('ok')} passed`,
  ];
  return `${report.ok ? 'check passed' : 'check failed'}: ${parts.join(', ')}`;
}
