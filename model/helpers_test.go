package model_test

import (
	"testing"

	"sluice/common"
	"sluice/internal/testenv"
	"sluice/model"
)

func mustCreateUser(t *testing.T, s *model.Store, quota int64) *model.User {
	t.Helper()
	u := &model.User{Username: testenv.Name("u-"), Password: "x", Quota: quota, Role: 1, Status: 1}
	if err := s.CreateUser(u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// mustCreateToken creates a key for userID and returns it with its secret.
func mustCreateToken(t *testing.T, s *model.Store, userID int, remain int64, unlimited bool) (*model.Token, string) {
	t.Helper()
	secret := common.NewAPIKey()
	tok := &model.Token{UserID: userID, Name: testenv.Name("k-"), KeyHash: common.HashSecret(secret),
		MaskedKey: common.MaskSecret(secret), Status: 1, ExpiredTime: -1, RemainQuota: remain, UnlimitedQuota: unlimited}
	if err := s.CreateToken(tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return tok, secret
}

func mustCreateChannel(t *testing.T, s *model.Store, c model.Channel, key string) *model.Channel {
	t.Helper()
	if c.Name == "" {
		c.Name = testenv.Name("ch-")
	}
	if c.Type == 0 {
		c.Type = 1
	}
	if err := s.CreateChannel(&c, key); err != nil {
		t.Fatalf("CreateChannel %q: %v", c.Name, err)
	}
	return &c
}

// scalar reads one int64 with raw SQL, bypassing the model.
func scalar(t *testing.T, s *model.Store, query string, args ...any) int64 {
	t.Helper()
	var v int64
	if err := s.DB.Raw(query, args...).Scan(&v).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}
