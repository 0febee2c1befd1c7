import type { AuthService, Principal } from '../auth/service.ts';

// The broker asks the ACL on every publish (write) and every delivery (read), and a client keeps
// publishing to the same few topics: with rules, each question walks them and expands their
// %c/%u placeholders again. A connection's principal does not change once it is connected, so the
// answers are kept per connection and topic, until the ACL is replaced (auth.generation) or the
// table reaches MAX_TOPICS (then it starts again: a client walking many topics costs what it did).

const MAX_TOPICS = 128;
const WRITE_KNOWN = 1;
const WRITE_OK = 2;
const READ_KNOWN = 4;
const READ_OK = 8;

export class AclCache {
  private readonly answers = new Map<string, number>();
  private generation: number;

  constructor(private readonly auth: AuthService) {
    this.generation = auth.generation;
  }

  mayPublish(p: Principal, topic: string): boolean {
    const bits = this.known(topic);
    if (bits & WRITE_KNOWN) return (bits & WRITE_OK) !== 0;
    return this.keep(topic, bits, WRITE_KNOWN, WRITE_OK, this.auth.authorize(p, 'publish', topic));
  }

  mayRead(p: Principal, topic: string): boolean {
    const bits = this.known(topic);
    if (bits & READ_KNOWN) return (bits & READ_OK) !== 0;
    return this.keep(topic, bits, READ_KNOWN, READ_OK, this.auth.mayRead(p, topic));
  }

  private known(topic: string): number {
    if (this.generation !== this.auth.generation) {
      this.answers.clear();
      this.generation = this.auth.generation;
    }
    return this.answers.get(topic) ?? 0;
  }

  private keep(topic: string, bits: number, known: number, ok: number, allowed: boolean): boolean {
    if (!bits && this.answers.size >= MAX_TOPICS) this.answers.clear();
    this.answers.set(topic, bits | known | (allowed ? ok : 0));
    return allowed;
  }
}
