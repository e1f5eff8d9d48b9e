// Package apitest runs the whole HTTP stack in-process over a fresh SQLite
// database, for tests of the admin API and the relay's middleware chain.
// End-to-end tests of the real binary live in e2e/.
package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

	"sluice/common"
	"sluice/constant"
	"sluice/controller"
	"sluice/middleware"
	"sluice/model"
	"sluice/relay"
	"sluice/router"
	"sluice/service"
)

// Server is a running in-process sluice.
type Server struct {
	*httptest.Server
	Store    *model.Store
	Cache    *model.Cache
	Writer   *service.BatchWriter
	Tasks    *service.Tasks
	Handlers *controller.Handlers
	// RootToken is root's admin access token; RootID its user id.
	RootToken string
	RootID    int
}

// Options tweak a Server.
type Options struct {
	// DB, when set, is used instead of a fresh SQLite file (e.g. a
	// PostgreSQL or MySQL database from internal/testdb).
	DB *gorm.DB
	// APIRateLimit per 3 minutes per IP (0: effectively unlimited).
	APIRateLimit int
	// CriticalRateLimit per 3 minutes per IP on login/setup/topup (0: unlimited).
	CriticalRateLimit int
	BodyLimit         int64
}

// New starts a server with a root user (role 100, quota 100,000,000) whose
// access token is RootToken.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	db := opts.DB
	if db == nil {
		var err error
		db, err = model.Open("", filepath.Join(tb.TempDir(), "sluice.db"), model.PoolConfig{})
		if err != nil {
			tb.Fatal(err)
		}
	}
	cipher, err := common.NewCipher("apitest-secret")
	if err != nil {
		tb.Fatal(err)
	}
	store := model.NewStore(db, db, cipher)
	if err := store.Migrate(); err != nil {
		tb.Fatal(err)
	}
	rootToken := "root-access-" + common.RandomString(16)
	if err := service.EnsureRoot(store, service.Bootstrap{Password: "root-password-1", AccessToken: rootToken}); err != nil {
		tb.Fatal(err)
	}
	cache := model.NewCache(store)
	if err := cache.Load(); err != nil {
		tb.Fatal(err)
	}
	writer := service.NewBatchWriter(store, false)
	tasks := &service.Tasks{}
	engine := &relay.Engine{Cache: cache, Writer: writer, Tasks: tasks, Client: relay.NewHTTPClient(),
		Health:           &service.ChannelHealth{Store: store, Cache: cache, Writer: writer},
		StreamingTimeout: 5 * time.Second, DrainTimeout: time.Second, MaxResponseBytes: 64 << 20}
	if opts.BodyLimit == 0 {
		opts.BodyLimit = 32 << 20
	}
	if opts.APIRateLimit == 0 {
		opts.APIRateLimit = 1 << 30
	}
	h := &controller.Handlers{Store: store, Cache: cache, Engine: engine, Writer: writer, Version: "test",
		BodyLimit: opts.BodyLimit, Sessions: &middleware.Sessions{Secret: []byte("apitest-session"), Store: store, Cache: cache},
		Redeemer: &service.Redeemer{Store: store, Cache: cache, Writer: writer}}
	handler, err := router.New(h, router.Limits{APIPerWindow: opts.APIRateLimit, WebPerWindow: 1 << 30, CriticalPerWindow: opts.CriticalRateLimit, Window: 3 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	tb.Cleanup(func() {
		srv.Close()
		tasks.Wait()
		_ = writer.Close()
	})
	root, err := store.UserByUsername("root")
	if err != nil {
		tb.Fatal(err)
	}
	return &Server{Server: srv, Store: store, Cache: cache, Writer: writer, Tasks: tasks, Handlers: h, RootToken: rootToken, RootID: root.ID}
}

// Envelope is the admin API's answer shape.
type Envelope struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// Do sends an admin API request authenticated with bearer token (none when
// empty) and returns the status and decoded envelope. body may be nil, a
// string (sent as is) or any value (JSON-encoded).
func (s *Server) Do(tb testing.TB, method, path, token string, body any) (int, Envelope) {
	tb.Helper()
	status, raw := s.Raw(tb, method, path, token, body)
	var env Envelope
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &env); err != nil {
			tb.Fatalf("%s %s: status %d, body is not an envelope: %s", method, path, status, raw)
		}
	}
	return status, env
}

// Raw is Do without decoding.
func (s *Server) Raw(tb testing.TB, method, path, token string, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, out
}

// Decode unmarshals an envelope's data into v.
func Decode(tb testing.TB, env Envelope, v any) {
	tb.Helper()
	if err := json.Unmarshal(env.Data, v); err != nil {
		tb.Fatalf("decode %s: %v", env.Data, err)
	}
}

// NewUser creates a user with role and quota directly in the store and
// returns its id and an admin access token for it.
func (s *Server) NewUser(tb testing.TB, username string, role int, quota int64) (int, string) {
	tb.Helper()
	hash, err := common.HashPassword("password-" + username)
	if err != nil {
		tb.Fatal(err)
	}
	u := &model.User{Username: username, Password: hash, Role: role, Status: constant.UserStatusEnabled, Quota: quota, Group: constant.DefaultGroup}
	if err := s.Store.CreateUser(u); err != nil {
		tb.Fatal(err)
	}
	tok := "access-" + common.RandomString(20)
	if err := s.Store.SetAccessTokenHash(u.ID, common.HashSecret(tok)); err != nil {
		tb.Fatal(err)
	}
	s.Cache.PutUser(u)
	return u.ID, tok
}
