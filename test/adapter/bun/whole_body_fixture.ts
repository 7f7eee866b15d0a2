/**
 * Runs under Bun for test/adapter/node_compat/whole_body.test.ts: the small-body requests of
 * test/adapter/node_compat/whole_body_scenario.ts through Bun's upstream client; prints what was seen, as JSON.
 */
import { upstreamFetchBun } from '../../../src/adapter/bun/upstream_fetch.ts';
import { WHOLE_BODY_MAX_BYTES } from '../../../src/adapter/node_compat/whole_body.ts';
import { wholeBodyScenario } from '../node_compat/whole_body_scenario.ts';

console.log(JSON.stringify(await wholeBodyScenario(upstreamFetchBun, WHOLE_BODY_MAX_BYTES)));
process.exit(0);
