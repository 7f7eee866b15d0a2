/** Reads a response body as text, refusing to hold more than `maxBytes` (a hostile or broken server). */
import { readAtMost } from '../../wire/bytes.ts';

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

export async function readBodyText(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const bytes = await readAtMost(response.body, maxBytes);
  if (bytes === undefined) throw new BodyTooLargeError(`response body larger than ${maxBytes} bytes`);
  return new TextDecoder().decode(bytes);
}
