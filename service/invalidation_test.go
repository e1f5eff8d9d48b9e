package service_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"sluice/common"
	"sluice/constant"
	"sluice/internal/testenv"
	"sluice/model"
	"sluice/service"
)

// TestInvalidationReachesTheOtherInstance runs two caches over one
// database, each with its own Invalidator, as two sluice instances would.
func TestInvalidationReachesTheOtherInstance(t *testing.T) {
	url := testenv.Lookup(t, testenv.Redis)
	db, err := model.Open("", filepath.Join(t.TempDir(), "s.db"), model.PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cipher, _ := common.NewCipher("x")
	store := model.NewStore(db, db, cipher)
	if err := store.Migrate(); err != nil {
		t.Fatal(err)
	}
	u := &model.User{Username: "u", Password: "x", Role: 1, Status: 1, Quota: 10}
	if err := store.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	tok := &model.Token{UserID: u.ID, Name: "k", KeyHash: common.HashSecret("sk-inv"), Status: 1, ExpiredTime: -1}
	if err := store.CreateToken(tok); err != nil {
		t.Fatal(err)
	}
	opt, _ := redis.ParseURL(url)
	prefix := "sluice-test:" + common.RandomString(10) + ":"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	instances := make([]*model.Cache, 2)
	for i := range instances {
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		c := model.NewCache(store)
		if err := c.Load(); err != nil {
			t.Fatal(err)
		}
		inv := service.NewInvalidator(rdb, prefix, c, store)
		go inv.Run(ctx)
		instances[i] = c
	}
	a, b := instances[0], instances[1]
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s not seen by the other instance within 1 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Let both subscriptions settle before publishing.
	time.Sleep(200 * time.Millisecond)

	// A key disabled through A is refused by B.
	if err := store.UpdateTokenFields(tok.ID, map[string]any{"status": constant.TokenStatusDisabled}); err != nil {
		t.Fatal(err)
	}
	fresh, _ := store.TokenByID(tok.ID)
	a.PutToken(fresh)
	waitFor("disabled key", func() bool {
		e := b.TokenByHash(common.HashSecret("sk-inv"))
		return e != nil && e.Info().Status == constant.TokenStatusDisabled
	})

	// A channel added through B serves on A.
	ch := &model.Channel{Type: 1, Name: "c", Models: "new-model", Group: "default", Status: 1, Weight: 1}
	if err := store.CreateChannel(ch, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.ReloadChannels(); err != nil {
		t.Fatal(err)
	}
	waitFor("new channel", func() bool { return a.HasModel("default", "new-model") })

	// A deleted key disappears everywhere.
	if _, err := store.DeleteToken(tok.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	a.RemoveToken(tok.ID)
	waitFor("deleted key", func() bool { return b.TokenByHash(common.HashSecret("sk-inv")) == nil })
}
