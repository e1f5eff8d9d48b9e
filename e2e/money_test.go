package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

// TestMoneyInvariant fires 40 concurrent requests at a key that can pay
// for about 10: none may overspend it, every refusal is a 429
// insufficient_quota, and once the batch writer has flushed, the consume
// logs, the key's balance and the user's balance tell the same story.
func TestMoneyInvariant(t *testing.T) {
	t.Parallel()
	// The slow upstream keeps every request's reservation held at once.
	up := newUpstream(t, behaviour{Delay: 300 * time.Millisecond})
	s := startSluice(t, options{})
	s.setPrices(t, "money-model")
	s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "money-model"})

	const maxTokens, requests = 50, 40
	// A reservation covers at least the real prompt plus max_tokens; the
	// key holds 10 of those, priced by the formula.
	budget := 10 * cost(tokens{Prompt: chatUsage.Prompt, Completion: maxTokens})
	perRequest := cost(chatUsage)
	affordable := budget / perRequest
	key := s.createKey(t, keySpec{RemainQuota: budget})
	userBefore := s.userBalance(t)

	watching, stopWatching := context.WithCancel(context.Background())
	lowest := watchRemain(s, key.ID, watching)

	params := hello("money-model")
	params.MaxTokens = openai.Int(maxTokens)
	client := s.client(key.Secret)
	var succeeded atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range requests {
		wg.Go(func() {
			<-start
			_, err := client.Chat.Completions.New(context.Background(), params)
			var apiErr *openai.Error
			switch {
			case err == nil:
				succeeded.Add(1)
			case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests && apiErr.Code == "insufficient_quota":
			default:
				t.Errorf("a request neither succeeded nor got 429 insufficient_quota: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	stopWatching()

	n := succeeded.Load()
	t.Logf("%d of %d requests succeeded; the key affords %d", n, requests, affordable)
	if n == 0 || n > affordable {
		t.Fatalf("%d of %d requests succeeded; the key affords %d (budget %d, %d each)", n, requests, affordable, budget, perRequest)
	}
	if low := <-lowest; low < 0 {
		t.Errorf("the key's remain_quota went down to %d during the burst", low)
	}

	logs := s.waitConsumeLogs(t, key.Name, int(n))
	var logged int64
	for _, l := range logs {
		logged += l.Quota
		if l.Quota != perRequest {
			t.Errorf("a consume log charged %d, want %d", l.Quota, perRequest)
		}
	}
	if int64(len(logs)) != n {
		t.Errorf("%d consume logs for %d successful requests", len(logs), n)
	}
	kb := s.keyBalance(t, key.ID)
	ub := s.userBalance(t)
	if kb.RemainQuota < 0 || budget-kb.RemainQuota != logged || kb.UsedQuota != logged {
		t.Errorf("key: remain %d (took %d), used %d; the logs sum to %d", kb.RemainQuota, budget-kb.RemainQuota, kb.UsedQuota, logged)
	}
	if took := userBefore.Quota - ub.Quota; took != logged {
		t.Errorf("the user paid %d; the logs sum to %d", took, logged)
	}
	if used := ub.UsedQuota - userBefore.UsedQuota; used != logged {
		t.Errorf("the user's used_quota grew by %d; the logs sum to %d", used, logged)
	}
}

// watchRemain polls the key's remain_quota until ctx ends and then sends
// the lowest value it saw. It runs beside the test goroutine, so it
// reports nothing itself.
func watchRemain(s *sluice, keyID int, ctx context.Context) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		lowest := int64(1 << 62)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				continue
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/token/"+strconv.Itoa(keyID), nil)
			req.Header.Set("Authorization", "Bearer "+s.Access)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				var env struct {
					Data keyBalance `json:"data"`
				}
				if json.NewDecoder(resp.Body).Decode(&env) == nil {
					lowest = min(lowest, env.Data.RemainQuota)
				}
				resp.Body.Close()
			}
		}
		out <- lowest
	}()
	return out
}
