package model

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

var echoScript = redis.NewScript(`return ARGV[1]`)

// Concurrent callers each get their own script's answer, whether their call
// went alone or in a pipeline, and even after Redis lost its script cache.
func TestScriptBatcherAnswersEachCaller(t *testing.T) {
	opt, err := redis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	b := &scriptBatcher{rdb: rdb}
	ctx := context.Background()
	for round := range 2 {
		if round == 1 {
			// NOSCRIPT inside a pipeline must fall back, not fail. (This
			// flushes only the script cache, which every script reloads.)
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan string, 400)
		for i := range 400 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				want := strconv.Itoa(round*1000 + i)
				got, err := b.run(ctx, echoScript, []string{"k"}, want).Text()
				if err != nil || got != want {
					errs <- "call " + want + ": got " + got + " err " + errString(err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running || len(b.queue) != 0 {
		t.Fatalf("batcher left running=%v with %d queued", b.running, len(b.queue))
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
