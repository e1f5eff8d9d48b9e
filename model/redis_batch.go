package model

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scriptBatcher sends the balance scripts of concurrent requests to Redis
// in one pipeline (group commit): while one round trip is in flight, the
// scripts that arrive meanwhile queue up and go together in the next. A
// lone request waits for nobody, so latency at low load is unchanged; at
// high load each request costs a fraction of a round trip (the syscalls
// and wake-ups of one EVALSHA each were most of the Redis configuration's
// CPU per request). Scripts still run one by one, atomically, in Redis:
// batching changes how they travel, not what they do.
type scriptBatcher struct {
	rdb *redis.Client

	mu      sync.Mutex
	queue   []*scriptCall
	running bool // a leader is sending a batch
}

// scriptCall is one script run waiting for its batch.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
	done   chan struct{}
	lead   bool // woken to send the next batch, not with a result
}

// run runs script like Script.Run, possibly in one pipeline with others.
func (b *scriptBatcher) run(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &scriptCall{script: s, keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if b.running {
		b.mu.Unlock()
		<-c.done
		if !c.lead {
			return c.cmd
		}
		// Handed the lead: our call is in the queue we now send.
		b.mu.Lock()
	}
	b.running = true
	batch := b.queue
	b.queue = nil
	b.mu.Unlock()

	b.send(ctx, batch)

	b.mu.Lock()
	if len(b.queue) > 0 {
		// The next waiter sends the next batch, so this caller returns now.
		next := b.queue[0]
		next.lead = true
		close(next.done)
	} else {
		b.running = false
	}
	b.mu.Unlock()
	return c.cmd
}

// send runs a batch and hands each waiting caller its result (the caller
// that sends it reads its own after send returns).
func (b *scriptBatcher) send(ctx context.Context, batch []*scriptCall) {
	// The batch serves several requests: one leaving must not cancel the
	// others' scripts (Redis calls have their own timeouts).
	ctx = context.WithoutCancel(ctx)
	if len(batch) == 1 {
		c := batch[0]
		c.cmd = c.script.Run(ctx, b.rdb, c.keys, c.args...)
	} else {
		pipe := b.rdb.Pipeline()
		for _, c := range batch {
			c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
		for _, c := range batch {
			if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				// Redis lost its script cache (a restart, SCRIPT FLUSH):
				// this one did not run; Run loads the script and runs it.
				c.cmd = c.script.Run(ctx, b.rdb, c.keys, c.args...)
			}
		}
	}
	for _, c := range batch {
		if !c.lead {
			close(c.done)
		}
	}
}
