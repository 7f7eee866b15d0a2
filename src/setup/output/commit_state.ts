/**
 * Writes the next state over the snapshot a command started from. When another writer got in first,
 * the output is read again: if only things setup does not own changed (other Secret keys, labels), the
 * write is retried on the new revision; if the stored items are already what we meant to write (our
 * own earlier attempt landed), that is success; if the stored items changed, the command stops rather
 * than overwrite a concurrent run's token or keys.
 */
import { SetupOutputError } from '../errors.ts';
import { OutputConflict, type Output, type Snapshot } from './output.ts';
import { sameState, type StoredState } from './stored_state.ts';

const MAX_ATTEMPTS = 5;

export async function commitState(output: Output, base: Snapshot, next: StoredState): Promise<Snapshot> {
  let expected = base.revision;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    try {
      return { state: next, revision: await output.write(next, expected) };
    } catch (error) {
      if (!(error instanceof OutputConflict)) throw error;
    }
    const latest = await output.read();
    if (sameState(latest.state, next)) return latest;
    if (!sameState(latest.state, base.state)) {
      throw new SetupOutputError(
        'OUTPUT_CONFLICT',
        `${output.description} was changed by another writer (another setup run?) while this one ran; nothing was overwritten: re-run setup once the other has finished`,
      );
    }
    expected = latest.revision;
  }
  throw new SetupOutputError(
    'OUTPUT_CONFLICT',
    `${output.description} kept changing under concurrent writers (${MAX_ATTEMPTS} attempts); re-run setup when nothing else is writing it`,
  );
}
