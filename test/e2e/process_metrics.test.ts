/**
 * The standard process metrics (`process_*`, as Prometheus' client libraries export them) on the admin
 * listener's /metrics, from the real process on every runtime, and the whole exposition checked by
 * Prometheus' own linter, `promtool check metrics` (Debian's `prometheus` package).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { makeTestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { ensureTool } from '../deploy/support/tools.ts';

interface Family {
  readonly help: string | undefined;
  readonly type: string | undefined;
  readonly samples: ReadonlyMap<string, number>;
}

/** The exposition text as families: HELP, TYPE and samples (`name{labels}` → value) under each name. */
function families(text: string): Map<string, Family> {
  const found = new Map<string, { help?: string; type?: string; samples: Map<string, number> }>();
  const family = (name: string) => found.get(name) ?? found.set(name, { samples: new Map() }).get(name)!;
  for (const line of text.split('\n')) {
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      family(comment[2]!)[comment[1] === 'HELP' ? 'help' : 'type'] = comment[3]!;
    } else if (line !== '') {
      const space = line.lastIndexOf(' ');
      const series = line.slice(0, space);
      family(series.replace(/\{.*$/, '')).samples.set(series, Number(line.slice(space + 1)));
    }
  }
  return new Map([...found].map(([name, { help, type, samples }]) => [name, { help, type, samples }]));
}

/** The one unlabelled value of a family. */
function valueOf(all: ReadonlyMap<string, Family>, name: string): number {
  const family = all.get(name);
  assert.ok(family, `${name} is exported`);
  const value = family.samples.get(name);
  assert.ok(value !== undefined, `${name} has an unlabelled sample`);
  return value;
}

/** The process_* families: name, type, help, and whether only /proc/self can tell it. */
const EXPECTED: ReadonlyArray<readonly [name: string, type: 'counter' | 'gauge', help: string, fromProc: boolean]> = [
  ['process_cpu_user_seconds_total', 'counter', 'Total user CPU time spent in seconds.', false],
  ['process_cpu_system_seconds_total', 'counter', 'Total system CPU time spent in seconds.', false],
  ['process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', false],
  ['process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', false],
  ['process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', false],
  ['process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.', true],
  ['process_heap_bytes', 'gauge', 'Process heap size in bytes.', true],
  ['process_open_fds', 'gauge', 'Number of open file descriptors.', true],
  ['process_max_fds', 'gauge', 'Maximum number of open file descriptors.', true],
];

/**
 * Deno refuses /proc/self to anything short of --allow-all, and the proxy runs with the narrow
 * permissions of deploy/deno/permissions.ts: there, what only /proc tells is absent.
 */
const readsProc = (runtime: string): boolean => !runtime.startsWith('deno');

for (const runtime of selectedRuntimes()) {
  describe(`process metrics on ${runtime}`, () => {
    let proxy: ProxyProcess;
    let adminUrl: string;
    const scrape = async (): Promise<string> => {
      const response = await fetch(`${adminUrl}/metrics`);
      assert.equal(response.status, 200);
      return response.text();
    };

    before(async () => {
      ensureTool('promtool', ['--version'], 'prometheus');
      const certs = await makeTestCertificates(TEST_DOMAIN);
      proxy = await startProxyProcess({
        runtime,
        certs,
        // Never dialled: the test sends no tunnel traffic.
        routes: { api: 'http://127.0.0.1:9' },
        config: { admin_addr: '127.0.0.1:0', log_level: 'info' },
      });
      const admin = await proxy.waitForLog((line) => line.msg === 'admin listening');
      adminUrl = `http://${String(admin.addr)}`;
    });

    after(async () => {
      await proxy?.stop();
    });

    it('serves an exposition that promtool check metrics accepts without a remark', async () => {
      const text = await scrape();
      const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(`${result.stdout}${result.stderr}`, '', `promtool's remarks on:\n${text}`);
      assert.equal(result.status, 0);
    });

    it(`exports the standard process_* families with the client libraries' name, type and help${readsProc(runtime) ? '' : ', and none of those only /proc tells'}`, async () => {
      const all = families(await scrape());
      for (const [name, type, help, fromProc] of EXPECTED) {
        if (fromProc && !readsProc(runtime)) {
          assert.equal(all.has(name), false, `${name} is absent (not 0): no HELP, TYPE or sample`);
          continue;
        }
        assert.equal(all.get(name)?.type, type, `${name} TYPE`);
        assert.equal(all.get(name)?.help, help, `${name} HELP`);
        assert.equal(all.get(name)?.samples.size, 1, `${name}: one unlabelled sample`);
      }
    });

    it('reports values that describe this process', async () => {
      const all = families(await scrape());
      const user = valueOf(all, 'process_cpu_user_seconds_total');
      const system = valueOf(all, 'process_cpu_system_seconds_total');
      assert.ok(user > 0 && system >= 0, `user ${user} s, system ${system} s`);
      assert.ok(Math.abs(valueOf(all, 'process_cpu_seconds_total') - (user + system)) < 1e-6, 'the total is user + system');

      const started = valueOf(all, 'process_start_time_seconds');
      const now = Date.now() / 1000;
      assert.ok(started <= now && started > now - 600, `started at ${started}, now ${now}`);

      const resident = valueOf(all, 'process_resident_memory_bytes');
      assert.ok(resident > 1 << 20, `resident ${resident} B`);
      if (!readsProc(runtime)) return;
      const virtual = valueOf(all, 'process_virtual_memory_bytes');
      const heap = valueOf(all, 'process_heap_bytes');
      assert.ok(resident < virtual, `resident ${resident} B, virtual ${virtual} B`);
      assert.ok(heap > 0 && heap < virtual, `heap ${heap} B`);

      // At least stdio and the two listening sockets; never more than the limit.
      const open = valueOf(all, 'process_open_fds');
      const max = valueOf(all, 'process_max_fds');
      assert.ok(open >= 5 && open <= max, `open ${open}, max ${max}`);
    });

    it('counts CPU time as it is spent', async () => {
      const before = valueOf(families(await scrape()), 'process_cpu_seconds_total');
      // Scrapes cost CPU in the proxy; enough of them move the counter past its 1 µs resolution.
      for (let i = 0; i < 50; i++) await scrape();
      assert.ok(valueOf(families(await scrape()), 'process_cpu_seconds_total') > before);
    });
  });
}
