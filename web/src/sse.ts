// Reads an OpenAI-style server-sent event stream (chat completions).

/** One parsed event: a JSON payload or the end marker. */
export type SseEvent = { done: true } | { done: false; data: unknown };

/**
 * Splits the text received so far into complete events and the unfinished
 * remainder, which the caller prepends to the next piece.
 */
export function parseSseChunk(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const normalised = buffer.replace(/\r\n/g, '\n');
  const blocks = normalised.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) continue;
    if (data.trim() === '[DONE]') {
      events.push({ done: true });
      continue;
    }
    try {
      events.push({ done: false, data: JSON.parse(data) });
    } catch {
      // A malformed event is skipped rather than ending the whole answer.
    }
  }
  return { events, rest };
}

/** What a chat completion chunk adds to the answer. */
export interface ChunkInfo {
  content: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens?: number };
  error?: string;
  finish?: string;
}

export function readChunk(data: unknown): ChunkInfo {
  const d = data as {
    choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
    usage?: ChunkInfo['usage'] | null;
    error?: { message?: string } | string;
  };
  if (d && d.error) {
    return { content: '', error: typeof d.error === 'string' ? d.error : (d.error.message ?? 'stream error') };
  }
  let content = '';
  let finish: string | undefined;
  for (const c of d?.choices ?? []) {
    if (c.delta?.content) content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { content, usage: d?.usage ?? undefined, finish };
}
