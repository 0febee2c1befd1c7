import { createInterface } from 'node:readline';

// `fieldgate passwd` input. On a terminal the password is typed twice, without echo (raw mode,
// read byte by byte), and a mismatch is an error: a typo would otherwise lock the device out
// with a hash nobody knows the password of. From a pipe, the first line is the password.

/**
 * Reads hidden lines from a terminal in raw mode (nothing is echoed). Keystrokes typed ahead of a
 * prompt (or pasted at once) are kept for the next line. Ctrl-C / Ctrl-D cancel.
 */
async function readHiddenLines(prompts: string[], input: NodeJS.ReadStream, output: NodeJS.WritableStream): Promise<string[]> {
  const lines: string[] = [];
  let value = '';
  input.setRawMode(true);
  input.resume();
  try {
    output.write(prompts[0] ?? '');
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            lines.push(value);
            value = '';
            output.write('\n');
            if (lines.length === prompts.length) {
              input.off('data', onData);
              return resolve();
            }
            output.write(prompts[lines.length] ?? '');
          } else if (ch === '\u0003' || ch === '\u0004') {
            input.off('data', onData);
            output.write('\n');
            return reject(new Error('cancelled'));
          } else if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
          else if (ch >= ' ') value += ch;
        }
      };
      input.on('data', onData);
    });
  } finally {
    input.setRawMode(false);
    input.pause();
  }
  return lines;
}

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  const rl = createInterface({ input, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

/**
 * The password for `fieldgate passwd`: asked twice on a terminal (an error when the two differ),
 * else the first line of standard input.
 */
export async function readNewPassword(input: NodeJS.ReadStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  if (!input.isTTY) return firstLine(input);
  const [first = '', again] = await readHiddenLines(['password: ', 'again: '], input, output);
  if (again !== first) throw new Error('the two passwords differ; nothing printed, try again');
  return first;
}
