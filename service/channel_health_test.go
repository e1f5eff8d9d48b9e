package service_test

import (
	"errors"
	"testing"

	"sluice/constant"
	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
	"sluice/service"
)

// A channel auto-disabled is out of selection as soon as AutoDisable
// returns, even in a routing table not rebuilt since — another instance's
// before its change notification arrives, or this one's while the rebuild
// is still reading SQL (an e2e test saw a request routed to a channel the
// admin API already showed as disabled). Here the health check rebuilds
// one cache while the channel came from another, which never rebuilds.
func TestAutoDisableTakesTheChannelOutBeforeAnyRebuild(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		m := testenv.Name("model-")
		ch := &model.Channel{Name: testenv.Name("ch-"), Type: 1, Models: m, Group: "default", AutoBan: 1}
		if err := s.CreateChannel(ch, "sk-up"); err != nil {
			t.Fatal(err)
		}
		rebuilt, stale := model.NewCache(s), model.NewCache(s)
		for _, c := range []*model.Cache{rebuilt, stale} {
			if err := c.Load(); err != nil {
				t.Fatal(err)
			}
		}
		view, err := stale.SelectChannel("default", m, nil)
		if err != nil || view.ID != ch.ID {
			t.Fatalf("before: SelectChannel = %v, %v; want channel %d", view, err, ch.ID)
		}

		h := &service.ChannelHealth{Store: s, Cache: rebuilt}
		h.AutoDisable(view, "test")

		if got, _ := s.ChannelByID(ch.ID); got.Status != constant.ChannelStatusAutoDisabled {
			t.Fatalf("status in SQL %d, want %d", got.Status, constant.ChannelStatusAutoDisabled)
		}
		for _, c := range []*model.Cache{rebuilt, stale} {
			if got, err := c.SelectChannel("default", m, nil); err == nil {
				t.Errorf("after AutoDisable a request was still routed to channel %d", got.ID)
			} else if !errors.Is(err, model.ErrNoChannel) && !errors.Is(err, model.ErrChannelsExhausted) {
				t.Errorf("after AutoDisable: %v", err)
			}
		}
	})
}
