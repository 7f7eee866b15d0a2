/**
 * The MCP metrics' labels (src/observability/proxy_metrics.ts): method and tool names are the caller's to
 * choose, so the label values they can create are bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OTHER_LABEL, ProxyMetrics, TOOL_LABELS_PER_ROUTE } from '../../src/observability/proxy_metrics.ts';

const metrics = () => new ProxyMetrics({ version: 'test', runtime: 'node', runtimeVersion: 'x' }, () => 0);

describe('MCP metrics labels', () => {
  it('names the methods MCP defines, and counts any other as other', () => {
    const m = metrics();
    m.mcpMessage({ route: 'r', method: 'tools/list', decision: 'allowed' });
    for (let i = 0; i < 50; i++) m.mcpMessage({ route: 'r', method: `made/up/${i}`, decision: 'allowed' });
    assert.equal(m.mcpRequests.value({ route: 'r', method: 'tools/list', decision: 'allowed' }), 1);
    assert.equal(m.mcpRequests.value({ route: 'r', method: OTHER_LABEL, decision: 'allowed' }), 50);
    assert.ok(!m.registry.render().includes('made/up'));
  });

  it(`shows the first ${TOOL_LABELS_PER_ROUTE} tool names of a route, then other; each route has its own`, () => {
    const m = metrics();
    const call = (route: string, name: string) => m.mcpMessage({ route, method: 'tools/call', decision: 'denied', tool: { name, outcome: 'denied' } });
    for (let i = 0; i < TOOL_LABELS_PER_ROUTE + 5; i++) call('a', `tool_${i}`);
    call('a', 'tool_0');
    call('b', 'fresh');
    const text = m.registry.render();
    assert.equal(m.toolCalls.value({ route: 'a', tool: 'tool_0', outcome: 'denied' }), 2, 'a name already shown keeps its label');
    assert.equal(m.toolCalls.value({ route: 'a', tool: OTHER_LABEL, outcome: 'denied' }), 5);
    assert.ok(!text.includes(`tool="tool_${TOOL_LABELS_PER_ROUTE}"`));
    assert.equal(m.toolCalls.value({ route: 'b', tool: 'fresh', outcome: 'denied' }), 1);
  });
});
