package service

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"sluice/common"
	"sluice/constant"
	"sluice/model"
)

// RootQuota is what the first root user starts with (200 USD at the default unit).
const RootQuota = 100_000_000

// Bootstrap holds the first-run settings from the environment.
type Bootstrap struct {
	Password    string // INITIAL_ROOT_PASSWORD
	AccessToken string // INITIAL_ROOT_ACCESS_TOKEN
	APIKey      string // INITIAL_ROOT_TOKEN
}

// ErrSetupDone means a root user already exists.
var ErrSetupDone = model.ErrSetupClaimed

// MinPasswordLength is the shortest password accepted anywhere.
const MinPasswordLength = 8

// EnsureRoot creates the root user on an empty database when the
// environment supplies a password or an access token. With neither, it
// creates nothing: no weak default account ever exists, and the setup page
// asks the operator for a password instead. Every setting is checked
// before anything is written, and everything is written in one
// transaction, so a refused start leaves the database empty for the next.
func EnsureRoot(store *model.Store, b Bootstrap) error {
	n, err := store.CountUsers()
	if err != nil || n > 0 {
		return err
	}
	if b.Password == "" && b.AccessToken == "" {
		slog.Warn("no users yet: open the web UI (or POST /api/setup) to create the root account")
		return nil
	}
	if b.Password != "" && len(b.Password) < MinPasswordLength {
		return fmt.Errorf("INITIAL_ROOT_PASSWORD must be at least %d characters", MinPasswordLength)
	}
	if b.APIKey != "" && (!strings.HasPrefix(b.APIKey, "sk-") || len(b.APIKey) < 8) {
		return errors.New("INITIAL_ROOT_TOKEN must start with sk- and be at least 8 characters")
	}
	password := b.Password
	if password == "" {
		// Login by password stays impossible until the operator sets one.
		password = common.RandomString(32)
	}
	root, err := newRoot("root", password)
	if err != nil {
		return err
	}
	access := ""
	if b.AccessToken != "" {
		access = common.HashSecret(b.AccessToken)
	}
	var key *model.Token
	if b.APIKey != "" {
		key = &model.Token{Name: "initial root key", KeyHash: common.HashSecret(b.APIKey),
			MaskedKey: common.MaskSecret(b.APIKey), Status: constant.TokenStatusEnabled, ExpiredTime: -1, UnlimitedQuota: true}
	}
	if err := store.CreateRoot(root, access, key); err != nil {
		if errors.Is(err, ErrSetupDone) {
			return nil // another instance bootstrapped first
		}
		return err
	}
	slog.Info("created root user from the environment")
	return nil
}

// Setup creates root through the one-time setup flow.
func Setup(store *model.Store, username, password string) (*model.User, error) {
	if len(password) < MinPasswordLength {
		return nil, fmt.Errorf("password must be at least %d characters", MinPasswordLength)
	}
	if username == "" {
		username = "root"
	}
	if len(username) > 64 {
		return nil, errors.New("username is too long")
	}
	n, err := store.CountUsers()
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, ErrSetupDone
	}
	root, err := newRoot(username, password)
	if err != nil {
		return nil, err
	}
	if err := store.CreateRoot(root, "", nil); err != nil {
		return nil, err
	}
	return root, nil
}

func newRoot(username, password string) (*model.User, error) {
	hash, err := common.HashPassword(password)
	if err != nil {
		return nil, err
	}
	return &model.User{Username: username, Password: hash, DisplayName: "Root User", Role: constant.RoleRoot,
		Status: constant.UserStatusEnabled, Group: constant.DefaultGroup, Quota: RootQuota}, nil
}
