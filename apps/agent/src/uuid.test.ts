import { describe, expect, it } from 'vitest';
import { randomUuid } from './uuid.ts';

describe('randomUuid', () => {
  it('gives version 4, RFC 9562 variant UUIDs that do not repeat', () => {
    const ids = Array.from({ length: 1000 }, () => randomUuid());
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
    // Every hex digit outside the fixed bits varies across a thousand ids.
    const positions = ids[0]?.length ?? 0;
    let constant = 0;
    for (let i = 0; i < positions; i++) {
      if (new Set(ids.map((id) => id[i])).size === 1) constant++;
    }
    expect(constant).toBe(5); // four dashes and the version digit
  });
});
