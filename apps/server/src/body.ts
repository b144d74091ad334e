import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';

export type BodyLimits = {
  /** bytes on the wire */
  maxBodyBytes: number;
  /** bytes after inflating a gzip body */
  maxInflatedBytes: number;
};

/** Why a body was refused; `reason` is the metrics label. */
export class BodyError extends Error {
  readonly status: 400 | 413 | 415;
  readonly reason: 'body_too_large' | 'inflated_too_large' | 'unsupported_encoding' | 'bad_gzip';
  /** how much had been inflated when the body was refused */
  readonly inflatedBytes: number;

  constructor(
    status: BodyError['status'],
    reason: BodyError['reason'],
    message: string,
    inflatedBytes = 0,
  ) {
    super(message);
    this.name = 'BodyError';
    this.status = status;
    this.reason = reason;
    this.inflatedBytes = inflatedBytes;
  }
}

export type Body = { text: string; wireBytes: number; inflatedBytes: number };

/**
 * Reads a request body under both caps. A gzip body is inflated as it streams in and abandoned
 * the moment its output passes `maxInflatedBytes`, so a bomb costs at most that much memory.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Body> {
  const encoding = (req.headers['content-encoding'] || 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new BodyError(
      415,
      'unsupported_encoding',
      `unsupported Content-Encoding "${encoding.slice(0, 40)}": send identity or gzip`,
    );
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
    throw new BodyError(
      413,
      'body_too_large',
      `body of ${declared} bytes is over the limit of ${limits.maxBodyBytes} bytes`,
    );
  }
  const gzip = encoding !== 'identity';
  return new Promise<Body>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let inflatedBytes = 0;
    let done = false;
    // 64 KiB output chunks: a quarter of the callbacks of the default, same cap granularity.
    const inflater = gzip ? createGunzip({ chunkSize: 64 * 1024 }) : null;

    const finish = (error: BodyError | null) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onRequestError);
      if (inflater) inflater.destroy();
      if (error) {
        // Stop reading: the response carries `Connection: close`, so the rest is never drained.
        req.pause();
        reject(error);
      } else {
        resolve({ text: Buffer.concat(chunks).toString('utf8'), wireBytes, inflatedBytes });
      }
    };

    const onData = (chunk: Buffer) => {
      wireBytes += chunk.length;
      if (wireBytes > limits.maxBodyBytes) {
        finish(
          new BodyError(
            413,
            'body_too_large',
            `body is over the limit of ${limits.maxBodyBytes} bytes`,
          ),
        );
        return;
      }
      if (inflater) inflater.write(chunk);
      else chunks.push(chunk);
    };
    const onEnd = () => {
      if (inflater) inflater.end();
      else {
        inflatedBytes = wireBytes;
        finish(null);
      }
    };
    const onRequestError = () => finish(new BodyError(400, 'bad_gzip', 'request body aborted'));

    if (inflater) {
      inflater.on('data', (out: Buffer) => {
        inflatedBytes += out.length;
        if (inflatedBytes > limits.maxInflatedBytes) {
          finish(
            new BodyError(
              413,
              'inflated_too_large',
              `gzip body inflates past the limit of ${limits.maxInflatedBytes} bytes`,
              inflatedBytes,
            ),
          );
          return;
        }
        chunks.push(out);
      });
      inflater.on('end', () => finish(null));
      inflater.on('error', (error: Error) =>
        finish(new BodyError(400, 'bad_gzip', `malformed gzip body: ${error.message}`)),
      );
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onRequestError);
  });
}
