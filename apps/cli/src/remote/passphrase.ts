// Asking for a key's passphrase on the terminal, without echo. Several hosts may connect at once,
// so prompts are serialised and each key file is asked for at most once per run.

import { closeSync, openSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';

const PASSPHRASE_MAX = 1024;

export class PassphrasePrompter {
  readonly #answers = new Map<string, Promise<string | null>>();
  #queue: Promise<unknown> = Promise.resolve();

  /** Whether a terminal is there to ask on (`/dev/tty`, as ssh does). */
  static available(): boolean {
    try {
      closeSync(openSync('/dev/tty', 'r+'));
      return true;
    } catch {
      return false;
    }
  }

  /** The passphrase for `file`, or null when there is no terminal or the user gave none. */
  ask(file: string): Promise<string | null> {
    const known = this.#answers.get(file);
    if (known !== undefined) return known;
    const answer = this.#queue.then(() => readHidden(`Enter passphrase for key '${file}': `));
    this.#queue = answer.catch(() => null);
    this.#answers.set(file, answer);
    return answer;
  }
}

function readHidden(prompt: string): Promise<string | null> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return Promise.resolve(null);
  }
  const input = new ReadStream(fd);
  const output = new WriteStream(fd);
  return new Promise((resolve) => {
    let text = '';
    const finish = (value: string | null) => {
      input.setRawMode(false);
      input.removeAllListeners('data');
      output.write('\n');
      input.destroy();
      resolve(value);
    };
    output.write(prompt);
    input.setRawMode(true);
    input.on('data', (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(text.length > 0 ? text : null);
        if (char === '\u0003' || char === '\u0004') return finish(null);
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else if (text.length < PASSPHRASE_MAX) text += char;
      }
    });
  });
}
